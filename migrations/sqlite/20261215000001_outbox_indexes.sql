-- no-transaction
-- Fewer index writes per queued row (each is a write in the turn that
-- queues the row, and a random key dirties a page of its own):
-- * one index on a session's rows instead of two: the message items'
--   delivery records read a range of message ids, the scores export counts
--   rows by status, both on (session_id, message_id, status);
-- * the idempotency key is unique by construction for a message's row (it
--   is made of the session's uuid and the message's id, and message_id is
--   UNIQUE), so only events' keys keep a unique index.
-- SQLite cannot drop a column's UNIQUE: the table is rebuilt (SQLite's
-- documented procedure, foreign keys off around the transaction).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE outbox_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organisations (id),
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    recipient TEXT NOT NULL, -- E.164
    message_id INTEGER UNIQUE REFERENCES messages (id),
    session_id INTEGER REFERENCES sessions (id),
    purpose TEXT NOT NULL
        CHECK (purpose IN ('enrolment', 'reply', 'reminder', 'expiry', 'event')),
    payload TEXT, -- JSON, for events only
    idempotency_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    provider_message_id TEXT,
    error TEXT,
    queued_at INTEGER NOT NULL,
    sent_at INTEGER,
    delivered_at INTEGER,
    failed_at INTEGER,
    segments INTEGER
);
INSERT INTO outbox_new (id, org_id, channel_id, recipient, message_id, session_id, purpose,
    payload, idempotency_key, status, attempts, next_attempt_at, lease_until,
    provider_message_id, error, queued_at, sent_at, delivered_at, failed_at, segments)
    SELECT id, org_id, channel_id, recipient, message_id, session_id, purpose,
    payload, idempotency_key, status, attempts, next_attempt_at, lease_until,
    provider_message_id, error, queued_at, sent_at, delivered_at, failed_at, segments FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbox_learner ON outbox (channel_id, recipient, id) WHERE status = 'queued';
CREATE INDEX outbox_provider ON outbox (channel_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX outbox_session ON outbox (session_id, message_id, status);
CREATE UNIQUE INDEX outbox_event_key ON outbox (idempotency_key) WHERE message_id IS NULL;
COMMIT;
PRAGMA foreign_keys = ON;
