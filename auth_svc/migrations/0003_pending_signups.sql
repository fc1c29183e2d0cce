-- A sign-up waits for its emailed code: the password hash and the name given at sign-up ride
-- on the code row until the code is verified (then the account is created with them) or the
-- code is replaced or expires. Nullable/defaulted, so existing rows and codes stay valid.
ALTER TABLE auth_codes ADD COLUMN signup_password_hash TEXT NULL;
ALTER TABLE auth_codes ADD COLUMN signup_display_name TEXT NOT NULL DEFAULT '';
