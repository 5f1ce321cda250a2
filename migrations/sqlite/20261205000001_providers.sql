-- no-transaction
-- Provider channels (twilio, africastalking, whatsapp) beside webhook, and
-- what delivery reports record (docs/channels.md). SQLite cannot change a
-- CHECK constraint: the channels and outbox tables are rebuilt (SQLite's
-- documented procedure; the outbox's REFERENCES channels (id) must not
-- follow a rename, hence foreign keys off around the transaction).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE channels_new (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    org_id INTEGER NOT NULL REFERENCES organisations (id),
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'twilio', 'africastalking', 'whatsapp')),
    name TEXT NOT NULL,
    settings TEXT NOT NULL, -- JSON, no secrets ({"url": ...})
    secrets TEXT NOT NULL, -- sealed with the server's secret key, bound to the row's uuid
    default_country TEXT NOT NULL,
    rate_per_second INTEGER NOT NULL CHECK (rate_per_second > 0),
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);
INSERT INTO channels_new SELECT id, uuid, org_id, kind, name, settings, secrets,
    default_country, rate_per_second, created_at, disabled_at FROM channels;
DROP TABLE channels;
ALTER TABLE channels_new RENAME TO channels;
CREATE INDEX channels_org ON channels (org_id, id) WHERE disabled_at IS NULL;
-- The outbox is rebuilt too: its purposes gain 'expiry' (the expiry
-- notice, a template of its own on WhatsApp), and it gains `segments`
-- (the SMS segments the provider was handed; NULL: not an SMS channel).
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
    idempotency_key TEXT NOT NULL UNIQUE,
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
    provider_message_id, error, queued_at, sent_at, delivered_at, failed_at)
    SELECT id, org_id, channel_id, recipient, message_id, session_id, purpose,
    payload, idempotency_key, status, attempts, next_attempt_at, lease_until,
    provider_message_id, error, queued_at, sent_at, delivered_at, failed_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbox_learner ON outbox (channel_id, recipient, id) WHERE status = 'queued';
CREATE INDEX outbox_provider ON outbox (channel_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
-- The delivery records of a session's messages (message items, summaries).
CREATE INDEX outbox_session_message ON outbox (session_id, message_id);
-- When a customer last wrote (WhatsApp's 24-hour window).
CREATE INDEX messages_customer_received ON messages (customer_id, created_at)
    WHERE direction = 'RECEIVED';
COMMIT;
PRAGMA foreign_keys = ON;
