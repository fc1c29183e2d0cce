CREATE TABLE IF NOT EXISTS media (
    id UUID PRIMARY KEY,
    owner_id TEXT NOT NULL,
    persona_id TEXT,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    visibility TEXT NOT NULL DEFAULT 'private',
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL DEFAULT 0,
    width INT,
    height INT,
    duration DOUBLE PRECISION,
    variants JSONB NOT NULL DEFAULT '{}',
    provider TEXT,
    label TEXT,
    prompt TEXT,
    error TEXT,
    job_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS media_owner_recent ON media (owner_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS media_persona_recent ON media (persona_id, created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS media_jobs (
    id UUID PRIMARY KEY,
    media_id UUID NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    owner_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS media_jobs_media ON media_jobs (media_id);

-- A user's running generations each hold one numbered slot; the primary key makes two
-- racing requests unable to take the same one (no locks, valid on CockroachDB).
CREATE TABLE IF NOT EXISTS media_generation_slots (
    owner_id TEXT NOT NULL,
    slot INT NOT NULL,
    job_id UUID NOT NULL UNIQUE,
    PRIMARY KEY (owner_id, slot)
);
