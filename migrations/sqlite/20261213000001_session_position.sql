-- Where each session is, for the funnel per step and the breakdowns of the
-- programme report (computed in the database):
-- - sessions.step: the step the session rests on (as the engine names it);
-- - sessions.language: the session's language;
-- - sessions.ended_at: when it became Completed, OptedOut or Expired;
-- - session_steps: the first time the session rested on each step.
ALTER TABLE sessions ADD COLUMN step TEXT;
ALTER TABLE sessions ADD COLUMN language TEXT;
ALTER TABLE sessions ADD COLUMN ended_at INTEGER;

CREATE TABLE session_steps (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    step TEXT NOT NULL,
    reached_at INTEGER NOT NULL,
    UNIQUE (session_id, step)
);

-- Sessions stored before this migration: their step and language are read
-- once from the engine's state (JSON; anything else is left NULL), their
-- end from their last activity, and their history starts at the step they
-- are on now (earlier steps were not recorded).
UPDATE sessions SET
    step = CASE WHEN json_valid(state) AND json_type(state) = 'object'
        AND json_type(state, '$.step') = 'text'
        THEN NULLIF(json_extract(state, '$.step'), '') END,
    language = CASE WHEN json_valid(state) AND json_type(state) = 'object'
        AND json_type(state, '$.language') = 'text'
        THEN json_extract(state, '$.language') END,
    ended_at = CASE WHEN status IN ('Completed', 'OptedOut', 'Expired')
        THEN COALESCE(last_activity, created_at) END;
INSERT INTO session_steps (session_id, step, reached_at)
    SELECT id, step, COALESCE(last_activity, created_at) FROM sessions WHERE step IS NOT NULL;
