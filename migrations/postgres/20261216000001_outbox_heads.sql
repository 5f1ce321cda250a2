-- Each learner's oldest queued row (per channel and recipient) is marked
-- as its head, and the claim reads heads only. Before, a claim walked
-- every due row and probed for an older queued row of the same learner:
-- behind a head waiting for a retry (a receiver that is down), that is
-- every queued row on every claim (140 ms and more with 50,000 queued).
--
-- Two triggers keep the mark, whatever statement queues or ends a row:
-- * before a row is queued: it is the head if its learner has no queued
--   row;
-- * after a row leaves 'queued' (sent or failed): the learner's next
--   queued row becomes the head.
-- Both first take a transaction-scoped advisory lock on the learner, so
-- they read the queue after every earlier holder committed (each query of
-- a PL/pgSQL function takes a fresh snapshot under READ COMMITTED): a
-- learner never ends up with two heads, or with none while rows wait.
-- The lock also makes a learner's rows commit in id order. A row keeps
-- its mark after it leaves 'queued'; the index and the claim read queued
-- rows only.
ALTER TABLE outbox ADD COLUMN head BOOLEAN NOT NULL DEFAULT false;
UPDATE outbox o SET head = true WHERE status = 'queued' AND NOT EXISTS (
    SELECT 1 FROM outbox p WHERE p.channel_id = o.channel_id
    AND p.recipient = o.recipient AND p.status = 'queued' AND p.id < o.id);
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'queued' AND head;

-- The learner's lock: one key per schema, channel and recipient (a hash:
-- two learners sharing a key only wait for each other).
CREATE FUNCTION outbox_lock_learner(channel BIGINT, recipient TEXT) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(hashtextextended(
        current_schema() || ' ' || channel::text || ' ' || recipient, 0))
$$;

CREATE FUNCTION outbox_queue_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'queued' THEN
        PERFORM outbox_lock_learner(NEW.channel_id, NEW.recipient);
        NEW.head := NOT EXISTS (SELECT 1 FROM outbox WHERE channel_id = NEW.channel_id
            AND recipient = NEW.recipient AND status = 'queued');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER outbox_queue_head BEFORE INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_queue_head();

CREATE FUNCTION outbox_next_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM outbox_lock_learner(OLD.channel_id, OLD.recipient);
    UPDATE outbox SET head = true WHERE NOT head AND id = (
        SELECT id FROM outbox WHERE channel_id = OLD.channel_id
        AND recipient = OLD.recipient AND status = 'queued' ORDER BY id LIMIT 1);
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_next_head AFTER UPDATE OF status ON outbox
    FOR EACH ROW WHEN (OLD.status = 'queued' AND NEW.status <> 'queued')
    EXECUTE FUNCTION outbox_next_head();
