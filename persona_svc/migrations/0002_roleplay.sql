-- Role-play: a conversation's title and its own user persona; each account's user persona.
-- Valid on PostgreSQL and CockroachDB.

ALTER TABLE conversations ADD COLUMN title TEXT;
ALTER TABLE conversations ADD COLUMN user_persona_name TEXT;
ALTER TABLE conversations ADD COLUMN user_persona_description TEXT;

-- Who the user plays (`{{user}}` and the description told to the model), one per account.
CREATE TABLE user_personas (
    user_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL
);
