-- Fewer index writes per queued row (each is a write in the turn that
-- queues the row, and a random key dirties a page of its own):
-- * one index on a session's rows instead of two: the message items'
--   delivery records read a range of message ids, the scores export counts
--   rows by status, both on (session_id, message_id, status);
-- * the idempotency key is unique by construction for a message's row (it
--   is made of the session's uuid and the message's id, and message_id is
--   UNIQUE), so only events' keys keep a unique index.
DROP INDEX outbox_session_message;
DROP INDEX outbox_session;
CREATE INDEX outbox_session ON outbox (session_id, message_id, status);
ALTER TABLE outbox DROP CONSTRAINT outbox_idempotency_key_key;
CREATE UNIQUE INDEX outbox_event_key ON outbox (idempotency_key) WHERE message_id IS NULL;
