-- Provider channels (twilio, africastalking, whatsapp) beside webhook, and
-- what delivery reports record (docs/channels.md).
ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check
    CHECK (kind IN ('webhook', 'twilio', 'africastalking', 'whatsapp'));
-- SMS segments the provider was handed (NULL: not an SMS channel).
ALTER TABLE outbox ADD COLUMN segments INTEGER;
-- The delivery records of a session's messages (message items, summaries).
CREATE INDEX outbox_session ON outbox (session_id, message_id);
