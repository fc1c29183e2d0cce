-- Group rooms (docs/rooms.md): several people and several personas in one conversation.
-- Ids are TEXT (room ids are UUIDs, user ids come from auth_svc). A room's row is the lock
-- that orders its messages (`last_seq`) and its reply queue. Valid on PostgreSQL and CockroachDB.

CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    title TEXT NOT NULL,
    turn_policy TEXT NOT NULL DEFAULT 'manual',
    persona_ids TEXT[] NOT NULL,
    persona_names TEXT[] NOT NULL,
    persona_avatars TEXT[] NOT NULL,
    member_count INT NOT NULL DEFAULT 1,
    turn_index INT NOT NULL DEFAULT 0,
    last_seq INT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    last_activity_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE room_members (
    room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user ON room_members (user_id);

-- Members the owner removed: invites made until `removed_at` no longer admit them.
CREATE TABLE room_removals (
    room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    removed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Only the code's SHA-256 is stored: the code itself is shown once, to the owner.
CREATE TABLE room_invites (
    code_hash TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,
    max_uses INT,
    uses INT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX room_invites_room ON room_invites (room_id);

CREATE TABLE room_messages (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq INT NOT NULL,
    kind TEXT NOT NULL,
    author_id TEXT NOT NULL,
    author_name TEXT NOT NULL,
    content TEXT NOT NULL,
    asked_by TEXT,
    job_id TEXT,
    status TEXT NOT NULL DEFAULT 'done',
    hidden BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (room_id, seq)
);
-- The per-member rate limit counts a member's recent messages.
CREATE INDEX room_messages_author ON room_messages (room_id, author_id, created_at);

CREATE TABLE room_message_reports (
    message_id TEXT NOT NULL REFERENCES room_messages (id) ON DELETE CASCADE,
    reporter_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (message_id, reporter_id)
);

-- A persona's reply: queued, then running (one per room), then ended once.
CREATE TABLE room_replies (
    job_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    persona_id TEXT NOT NULL,
    asked_by TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    position INT NOT NULL,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX room_replies_queue ON room_replies (room_id, status, position);
