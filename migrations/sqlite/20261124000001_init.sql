-- chatcourse storage, SQLite. Times are INTEGER microseconds since the Unix
-- epoch (UTC): exact, compact and correctly ordered. Uuids are hyphenated TEXT.

CREATE TABLE organisations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organisations (id),
    label TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE, -- lowercase hex SHA-256 of the secret
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE programmes (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organisations (id),
    identifier INTEGER NOT NULL, -- the API's program_identifier
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, identifier)
);

CREATE TABLE module_versions (
    id INTEGER PRIMARY KEY,
    module_id TEXT NOT NULL,
    module_uuid TEXT NOT NULL,
    name TEXT NOT NULL,
    goal TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    languages TEXT NOT NULL, -- JSON array of language codes
    pre_quiz_total INTEGER NOT NULL,
    post_quiz_total INTEGER NOT NULL,
    registered_at INTEGER NOT NULL,
    UNIQUE (module_id, content_hash)
);
CREATE INDEX module_versions_uuid ON module_versions (module_uuid, id);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    org_id INTEGER NOT NULL REFERENCES organisations (id),
    full_name TEXT NOT NULL,
    national_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    location TEXT NOT NULL,
    gender TEXT NOT NULL,
    email TEXT,
    date_of_birth TEXT, -- YYYY-MM-DD
    registered_at INTEGER NOT NULL
);
CREATE INDEX customers_org ON customers (org_id);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    org_id INTEGER NOT NULL REFERENCES organisations (id),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    programme_id INTEGER NOT NULL REFERENCES programmes (id),
    module_version_id INTEGER NOT NULL REFERENCES module_versions (id),
    module_uuid TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('Pending', 'InProgress', 'Completed', 'OptedOut', 'Expired')),
    state TEXT NOT NULL, -- the engine's serialized state, opaque here
    state_format INTEGER NOT NULL,
    turns INTEGER NOT NULL, -- turns applied; messages carry the turn that stored them
    pre_correct INTEGER NOT NULL DEFAULT 0,
    pre_answered INTEGER NOT NULL DEFAULT 0,
    post_correct INTEGER NOT NULL DEFAULT 0,
    post_answered INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    last_activity INTEGER,
    wake_at INTEGER,
    claimed_until INTEGER -- wake-up lease
);
-- At most one live session per customer, programme and module.
CREATE UNIQUE INDEX sessions_one_live ON sessions (customer_id, programme_id, module_uuid)
    WHERE status IN ('Pending', 'InProgress');
CREATE INDEX sessions_customer ON sessions (customer_id);
CREATE INDEX sessions_programme ON sessions (programme_id);
CREATE INDEX sessions_wake ON sessions (wake_at) WHERE wake_at IS NOT NULL;

CREATE TABLE messages (
    -- AUTOINCREMENT: ids are never reused. SQLite has one writer at a time, so
    -- ids follow commit order across all sessions.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    direction TEXT NOT NULL CHECK (direction IN ('SENT', 'RECEIVED')),
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    external_id TEXT,
    turn INTEGER NOT NULL,
    -- Idempotency of inbound messages (NULLs are distinct).
    UNIQUE (session_id, external_id)
);
CREATE INDEX messages_session ON messages (session_id, id);

CREATE TABLE quiz_answers (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    quiz TEXT NOT NULL CHECK (quiz IN ('pre', 'post')),
    question_id TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
    attempt INTEGER NOT NULL,
    matched_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX quiz_answers_session ON quiz_answers (session_id, quiz, question_id, id);
