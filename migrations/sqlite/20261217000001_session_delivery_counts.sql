-- A session's message rows in the outbox, counted by status on the
-- session's own row, so the index `outbox_session (session_id, message_id,
-- status)` can go. That index took one entry per queued row at a random
-- place (a page of its own per session in every group commit), about half
-- of what the outbox cost a turn, and served three reads that no longer
-- need it:
-- * the scores export's four counts per session: these columns;
-- * the message items' delivery records: a range of `messages_session`,
--   each message's row found through the outbox's unique `message_id`;
-- * a session's event rows (`session_outbox`): the small partial index
--   below (events are rare: a session's end, a failed delivery).
-- A turn adds the rows it queues in its own update of the session (an
-- enrolment in an update of its own); the trigger below moves a row's
-- count when its status changes, whatever statement changes it (on the one
-- writer). PostgreSQL keeps the counts in its statements instead (see its
-- migration).
ALTER TABLE sessions ADD COLUMN outbox_queued INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN outbox_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN outbox_delivered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN outbox_failed INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET
    outbox_queued = c.queued, outbox_sent = c.sent,
    outbox_delivered = c.delivered, outbox_failed = c.failed
FROM (SELECT session_id,
        SUM(status = 'queued') AS queued, SUM(status = 'sent') AS sent,
        SUM(status = 'delivered') AS delivered, SUM(status = 'failed') AS failed
      FROM outbox WHERE message_id IS NOT NULL GROUP BY session_id) AS c
WHERE sessions.id = c.session_id;
CREATE TRIGGER outbox_count_moved AFTER UPDATE OF status ON outbox
    WHEN NEW.message_id IS NOT NULL AND NEW.status <> OLD.status
BEGIN
    UPDATE sessions SET
        outbox_queued = outbox_queued + (NEW.status = 'queued') - (OLD.status = 'queued'),
        outbox_sent = outbox_sent + (NEW.status = 'sent') - (OLD.status = 'sent'),
        outbox_delivered = outbox_delivered + (NEW.status = 'delivered') - (OLD.status = 'delivered'),
        outbox_failed = outbox_failed + (NEW.status = 'failed') - (OLD.status = 'failed')
    WHERE id = NEW.session_id;
END;
CREATE INDEX outbox_session_events ON outbox (session_id, id) WHERE message_id IS NULL;
DROP INDEX outbox_session;
