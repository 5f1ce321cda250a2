-- Scores are no longer recounted from quiz_answers (each turn stores the
-- engine's progress); the table is only read as a session's log, by id.
DROP INDEX quiz_answers_session;
CREATE INDEX quiz_answers_session ON quiz_answers (session_id, id);
