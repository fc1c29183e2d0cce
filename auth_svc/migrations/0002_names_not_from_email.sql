-- Accounts created without a name used to be shown as their email's local part ("ada.lovelace"
-- of ada.lovelace@example.com), which is often a real name. They get a generated handle
-- instead, as new accounts do (`reader-<4 digits>`); their owners can choose a name on the
-- account page. An account that typed exactly its local part as its name is renamed too: the
-- two cannot be told apart, and showing an address to everyone is the worse mistake.
-- Valid on PostgreSQL and CockroachDB (split_part, random).
UPDATE auth_users
SET display_name = 'reader-' || CAST(1000 + CAST(floor(random() * 9000) AS INT) AS TEXT)
WHERE display_name = left(split_part(email, '@', 1), 80)
  AND email NOT LIKE '%@system.invalid';
