-- persona_svc: personas, community, drafts, conversations.
-- Valid on PostgreSQL and CockroachDB: UUID keys, no sequences, no tsvector.

CREATE TABLE personas (
    id UUID PRIMARY KEY,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    tagline TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    personality TEXT NOT NULL DEFAULT '',
    scenario TEXT NOT NULL DEFAULT '',
    greeting TEXT NOT NULL DEFAULT '',
    alternate_greetings TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    example_dialogues TEXT NOT NULL DEFAULT '',
    system_prompt TEXT NOT NULL DEFAULT '',
    post_history_instructions TEXT NOT NULL DEFAULT '',
    tags TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    -- lower-cased copies for the tag filter and the `q` search (LIKE '%q%')
    tags_lower TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    search_text TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL,
    nsfw BOOL NOT NULL DEFAULT false,
    avatar_media_id TEXT,
    creator_notes TEXT NOT NULL DEFAULT '',
    creator TEXT NOT NULL DEFAULT '',
    character_version TEXT NOT NULL DEFAULT '',
    character_book JSONB,
    extensions JSONB NOT NULL DEFAULT '{}',
    card_extras JSONB NOT NULL DEFAULT '{}',
    forked_from UUID,
    moderation TEXT NOT NULL DEFAULT 'visible',
    last_reported_at TIMESTAMPTZ,
    like_count INT NOT NULL DEFAULT 0,
    chat_count INT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);

-- The public listings: newest first, most liked first.
CREATE INDEX personas_listed_new ON personas (created_at DESC, id DESC)
    WHERE visibility = 'public' AND moderation = 'visible' AND deleted_at IS NULL;
CREATE INDEX personas_listed_top ON personas (like_count DESC, id DESC)
    WHERE visibility = 'public' AND moderation = 'visible' AND deleted_at IS NULL;
CREATE INDEX personas_owner ON personas (owner_id, created_at DESC, id DESC);
CREATE INDEX personas_tags ON personas USING GIN (tags_lower);
CREATE INDEX personas_reported ON personas (last_reported_at DESC, id DESC) WHERE last_reported_at IS NOT NULL;

CREATE TABLE likes (
    persona_id UUID NOT NULL,
    user_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (persona_id, user_id)
);
CREATE INDEX likes_recent ON likes (created_at);

CREATE TABLE follows (
    follower_id TEXT NOT NULL,
    followee_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id);

-- One row per reporter and persona; `reviewed_at` closes it (a later report reopens it).
CREATE TABLE reports (
    id UUID PRIMARY KEY,
    persona_id UUID NOT NULL,
    reporter_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    reviewed_at TIMESTAMPTZ,
    UNIQUE (persona_id, reporter_id)
);

CREATE TABLE drafts (
    job_id UUID PRIMARY KEY,
    user_id TEXT NOT NULL,
    idea TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    draft JSONB,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ
);

CREATE TABLE conversations (
    id UUID PRIMARY KEY,
    user_id TEXT NOT NULL,
    persona_id UUID NOT NULL,
    persona_name TEXT NOT NULL,
    persona_avatar_media_id TEXT,
    last_seq INT NOT NULL DEFAULT 0,
    pending_job_id UUID,
    created_at TIMESTAMPTZ NOT NULL,
    last_activity_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversations_mine ON conversations (user_id, last_activity_at DESC, id DESC);
CREATE INDEX conversations_recent ON conversations (created_at);

CREATE TABLE messages (
    id UUID PRIMARY KEY,
    conversation_id UUID NOT NULL,
    seq INT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    swipes TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    swipe_index INT NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'done',
    job_id UUID,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (conversation_id, seq)
);

-- One row per chat job; its status leaves 'pending' once, which makes results idempotent.
CREATE TABLE generations (
    job_id UUID PRIMARY KEY,
    conversation_id UUID NOT NULL,
    message_id UUID NOT NULL,
    user_id TEXT NOT NULL,
    swipe_index INT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ
);
CREATE INDEX generations_conversation ON generations (conversation_id);
