-- A queued row's id is taken under its learner's lock. The id's default
-- is drawn before BEFORE triggers run, so two transactions queueing for
-- one learner could draw 10 and 11 and commit 11 first: row 11 was then
-- the learner's head and went out before row 10 existed for anyone.
-- Drawing the id again after the lock (the first one is skipped, a gap)
-- makes a learner's ids follow the order its rows commit in (migration
-- outbox_heads says the lock alone did; it did not).
CREATE OR REPLACE FUNCTION outbox_queue_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'queued' THEN
        PERFORM outbox_lock_learner(NEW.channel_id, NEW.recipient);
        NEW.id := nextval('outbox_id_seq');
        NEW.head := NOT EXISTS (SELECT 1 FROM outbox WHERE channel_id = NEW.channel_id
            AND recipient = NEW.recipient AND status = 'queued');
    END IF;
    RETURN NEW;
END
$$;
