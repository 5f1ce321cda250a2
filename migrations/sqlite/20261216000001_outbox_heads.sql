-- Each learner's oldest queued row (per channel and recipient) is marked
-- as its head, and the claim reads heads only. Before, a claim walked
-- every due row and probed for an older queued row of the same learner:
-- behind a head waiting for a retry (a receiver that is down), that is
-- every queued row, under the writer's lock, on every claim.
-- * The queueing insert marks its row a head when the learner has no
--   queued row (it runs on the one writer, so two inserts never both see
--   an empty queue).
-- * The trigger below promotes the next queued row when a row leaves
--   'queued' (sent or failed), whatever statement moves it.
-- A row keeps its mark after it leaves 'queued'; the index and the claim
-- read queued rows only.
ALTER TABLE outbox ADD COLUMN head INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET head = 1 WHERE status = 'queued' AND NOT EXISTS (
    SELECT 1 FROM outbox p WHERE p.channel_id = outbox.channel_id
    AND p.recipient = outbox.recipient AND p.status = 'queued' AND p.id < outbox.id);
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'queued' AND head = 1;
CREATE TRIGGER outbox_next_head AFTER UPDATE OF status ON outbox
    WHEN OLD.status = 'queued' AND NEW.status <> 'queued'
BEGIN
    UPDATE outbox SET head = 1 WHERE head = 0 AND id = (
        SELECT id FROM outbox WHERE channel_id = OLD.channel_id
        AND recipient = OLD.recipient AND status = 'queued' ORDER BY id LIMIT 1);
END;
