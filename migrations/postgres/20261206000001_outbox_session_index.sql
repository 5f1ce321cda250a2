-- The scores export counts each session's outbox rows by status.
CREATE INDEX outbox_session ON outbox (session_id, status);
