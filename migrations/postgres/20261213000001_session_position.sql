-- Where each session is, for the funnel per step and the breakdowns of the
-- programme report (computed in the database):
-- - sessions.step: the step the session rests on (as the engine names it);
-- - sessions.language: the session's language;
-- - sessions.ended_at: when it became Completed, OptedOut or Expired;
-- - session_steps: the first time the session rested on each step.
ALTER TABLE sessions ADD COLUMN step TEXT;
ALTER TABLE sessions ADD COLUMN language TEXT;
ALTER TABLE sessions ADD COLUMN ended_at TIMESTAMPTZ;

CREATE TABLE session_steps (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES sessions (id),
    step TEXT NOT NULL,
    reached_at TIMESTAMPTZ NOT NULL,
    UNIQUE (session_id, step)
);

-- Sessions stored before this migration: their step and language are read
-- once from the engine's state (JSON; anything else is left NULL), their
-- end from their last activity, and their history starts at the step they
-- are on now (earlier steps were not recorded).
CREATE FUNCTION pg_temp.state_text(state TEXT, field TEXT) RETURNS TEXT AS $$
DECLARE
    value JSONB;
BEGIN
    value := state::jsonb;
    IF jsonb_typeof(value) = 'object' AND jsonb_typeof(value -> field) = 'string' THEN
        RETURN NULLIF(value ->> field, '');
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

UPDATE sessions SET
    step = pg_temp.state_text(state, 'step'),
    language = pg_temp.state_text(state, 'language'),
    ended_at = CASE WHEN status IN ('Completed', 'OptedOut', 'Expired')
        THEN COALESCE(last_activity, created_at) END;
INSERT INTO session_steps (session_id, step, reached_at)
    SELECT id, step, COALESCE(last_activity, created_at) FROM sessions WHERE step IS NOT NULL;
