-- Provider channels (twilio, africastalking, whatsapp) beside webhook, and
-- what delivery reports record (docs/channels.md).
ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check
    CHECK (kind IN ('webhook', 'twilio', 'africastalking', 'whatsapp'));
-- The expiry notice has a purpose of its own (a template of its own on
-- WhatsApp).
ALTER TABLE outbox DROP CONSTRAINT outbox_purpose_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_purpose_check
    CHECK (purpose IN ('enrolment', 'reply', 'reminder', 'expiry', 'event'));
-- SMS segments the provider was handed (NULL: not an SMS channel).
ALTER TABLE outbox ADD COLUMN segments INTEGER;
-- The delivery records of a session's messages (message items, summaries).
CREATE INDEX outbox_session_message ON outbox (session_id, message_id);
-- When a customer last wrote (WhatsApp's 24-hour window).
CREATE INDEX messages_customer_received ON messages (customer_id, created_at)
    WHERE direction = 'RECEIVED';
