-- Delivery: channels per organisation, phones in E.164, the outbox of
-- messages to deliver, and consent per contact (docs/channels.md).

CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    org_id INTEGER NOT NULL REFERENCES organisations (id),
    kind TEXT NOT NULL CHECK (kind IN ('webhook')),
    name TEXT NOT NULL,
    settings TEXT NOT NULL, -- JSON, no secrets ({"url": ...})
    secrets TEXT NOT NULL, -- sealed with the server's secret key, bound to the row's uuid
    default_country TEXT NOT NULL,
    rate_per_second INTEGER NOT NULL CHECK (rate_per_second > 0),
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);
CREATE INDEX channels_org ON channels (org_id, id) WHERE disabled_at IS NULL;

-- NULL for customers registered before phones were normalised (NULLs are
-- distinct, so they never conflict).
ALTER TABLE customers ADD COLUMN phone_e164 TEXT;
CREATE UNIQUE INDEX customers_org_phone ON customers (org_id, phone_e164);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organisations (id),
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    recipient TEXT NOT NULL, -- E.164
    message_id INTEGER UNIQUE REFERENCES messages (id),
    session_id INTEGER REFERENCES sessions (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('enrolment', 'reply', 'reminder', 'event')),
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
    failed_at INTEGER
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbox_learner ON outbox (channel_id, recipient, id) WHERE status = 'queued';
CREATE INDEX outbox_provider ON outbox (channel_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organisations (id),
    phone TEXT NOT NULL, -- E.164
    opted_out_at INTEGER,
    opted_out_message_id INTEGER REFERENCES messages (id),
    opted_in_at INTEGER,
    UNIQUE (org_id, phone)
);

-- Append-only audit of opt-outs and opt-ins.
CREATE TABLE consent_events (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organisations (id),
    phone TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('opted_out', 'opted_in')),
    message_id INTEGER REFERENCES messages (id),
    at INTEGER NOT NULL
);
CREATE INDEX consent_events_contact ON consent_events (org_id, phone, id);
