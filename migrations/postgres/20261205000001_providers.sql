-- Provider channels (twilio, africastalking, whatsapp) beside webhook, and
-- what delivery reports record (docs/channels.md).
ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check
    CHECK (kind IN ('webhook', 'twilio', 'africastalking', 'whatsapp'));
-- SMS segments the provider was handed (NULL: not an SMS channel).
ALTER TABLE outbox ADD COLUMN segments INTEGER;
-- The delivery records of a session's messages (message items, summaries).
CREATE INDEX outbox_session ON outbox (session_id, message_id);
-- When a customer last wrote (WhatsApp's 24-hour window).
CREATE INDEX messages_customer_received ON messages (customer_id, created_at)
    WHERE direction = 'RECEIVED';
