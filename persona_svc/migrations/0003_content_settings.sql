-- What the community shows each account: adult (NSFW) personas only once the account turned
-- them on with an age confirmation. Valid on PostgreSQL and CockroachDB.

CREATE TABLE user_settings (
    user_id TEXT PRIMARY KEY,
    show_nsfw BOOLEAN NOT NULL DEFAULT false,
    adult_confirmed_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
