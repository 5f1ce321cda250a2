-- A session's message rows in the outbox, counted by status on the
-- session's own row, so the index `outbox_session (session_id, message_id,
-- status)` can go. That index took one entry per queued row at a random
-- place, about half of what the outbox cost a turn, and served three reads
-- that no longer need it:
-- * the scores export's four counts per session: these columns;
-- * the message items' delivery records: a range of `messages_session`,
--   each message's row found through the outbox's unique `message_id`;
-- * a session's event rows (`session_outbox`): the small partial index
--   below (events are rare: a session's end, a failed delivery).
-- Statements keep the counts, not triggers (a statement-level trigger
-- cannot be limited to `status` and would run on every lease; a row-level
-- one would add a version of the session's row per outbox row): a turn adds
-- the rows it queues in its own update of the session, an enrolment in an
-- update of its own, and the statements that move a row (the dispatcher's
-- outcomes, delivery reports) move its count in the same statement
-- (postgres/delivery.rs). The dispatcher locks the sessions of the rows it
-- moves before it moves them, in id order, as a turn takes the session's
-- lock before the learner's (`lock_sessions_of`).
ALTER TABLE sessions
    ADD COLUMN outbox_queued BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN outbox_sent BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN outbox_delivered BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN outbox_failed BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET
    outbox_queued = c.queued, outbox_sent = c.sent,
    outbox_delivered = c.delivered, outbox_failed = c.failed
FROM (SELECT session_id,
        COUNT(*) FILTER (WHERE status = 'queued') AS queued,
        COUNT(*) FILTER (WHERE status = 'sent') AS sent,
        COUNT(*) FILTER (WHERE status = 'delivered') AS delivered,
        COUNT(*) FILTER (WHERE status = 'failed') AS failed
      FROM outbox WHERE message_id IS NOT NULL GROUP BY session_id) AS c
WHERE sessions.id = c.session_id;
CREATE INDEX outbox_session_events ON outbox (session_id, id) WHERE message_id IS NULL;
DROP INDEX outbox_session;
