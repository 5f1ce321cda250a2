-- no-transaction
-- Provider channels (twilio, africastalking, whatsapp) beside webhook, and
-- what delivery reports record (docs/channels.md). SQLite cannot change a
-- CHECK constraint: the channels table is rebuilt (SQLite's documented
-- procedure; the outbox's REFERENCES channels (id) must not follow a
-- rename, hence foreign keys off around the transaction).
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
-- SMS segments the provider was handed (NULL: not an SMS channel).
ALTER TABLE outbox ADD COLUMN segments INTEGER;
-- The delivery records of a session's messages (message items, summaries).
CREATE INDEX outbox_session ON outbox (session_id, message_id);
-- When a customer last wrote (WhatsApp's 24-hour window).
CREATE INDEX messages_customer_received ON messages (customer_id, created_at)
    WHERE direction = 'RECEIVED';
COMMIT;
PRAGMA foreign_keys = ON;
