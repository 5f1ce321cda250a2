-- chatcourse storage, PostgreSQL.

CREATE TABLE organisations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    label TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE, -- lowercase hex SHA-256 of the secret
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE programmes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    identifier BIGINT NOT NULL, -- the API's program_identifier
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, identifier)
);

CREATE TABLE module_versions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    module_id TEXT NOT NULL,
    module_uuid UUID NOT NULL,
    name TEXT NOT NULL,
    goal TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    languages JSONB NOT NULL, -- array of language codes
    pre_quiz_total INTEGER NOT NULL,
    post_quiz_total INTEGER NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL,
    UNIQUE (module_id, content_hash)
);
CREATE INDEX module_versions_uuid ON module_versions (module_uuid, id);

CREATE TABLE customers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    full_name TEXT NOT NULL,
    national_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    location TEXT NOT NULL,
    gender TEXT NOT NULL,
    email TEXT,
    date_of_birth DATE,
    registered_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX customers_org ON customers (org_id);

CREATE TABLE sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    programme_id BIGINT NOT NULL REFERENCES programmes (id),
    module_version_id BIGINT NOT NULL REFERENCES module_versions (id),
    module_uuid UUID NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('Pending', 'InProgress', 'Completed', 'OptedOut', 'Expired')),
    state TEXT NOT NULL, -- the engine's serialized state, opaque here
    state_format INTEGER NOT NULL,
    turns BIGINT NOT NULL, -- turns applied; messages carry the turn that stored them
    pre_correct INTEGER NOT NULL DEFAULT 0,
    pre_answered INTEGER NOT NULL DEFAULT 0,
    post_correct INTEGER NOT NULL DEFAULT 0,
    post_answered INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    last_activity TIMESTAMPTZ,
    wake_at TIMESTAMPTZ,
    claimed_until TIMESTAMPTZ -- wake-up lease
);
-- At most one live session per customer, programme and module.
CREATE UNIQUE INDEX sessions_one_live ON sessions (customer_id, programme_id, module_uuid)
    WHERE status IN ('Pending', 'InProgress');
CREATE INDEX sessions_customer ON sessions (customer_id);
CREATE INDEX sessions_programme ON sessions (programme_id);
CREATE INDEX sessions_wake ON sessions (wake_at) WHERE wake_at IS NOT NULL;

CREATE TABLE messages (
    -- Taken from a sequence while the session row is locked: strictly
    -- increasing in commit order within a session (see notes on ordering).
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES sessions (id),
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    direction TEXT NOT NULL CHECK (direction IN ('SENT', 'RECEIVED')),
    text TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    external_id TEXT,
    turn BIGINT NOT NULL,
    -- Idempotency of inbound messages (NULLs are distinct).
    CONSTRAINT messages_external UNIQUE (session_id, external_id)
);
CREATE INDEX messages_session ON messages (session_id, id);

CREATE TABLE quiz_answers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES sessions (id),
    quiz TEXT NOT NULL CHECK (quiz IN ('pre', 'post')),
    question_id TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    correct BOOLEAN NOT NULL,
    attempt INTEGER NOT NULL,
    matched_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX quiz_answers_session ON quiz_answers (session_id, quiz, question_id, id);
