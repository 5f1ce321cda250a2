-- Learner tokens: each opens the live chat (WebSocket) of one session until
-- it expires. Only the hash of the token is stored.
CREATE TABLE session_tokens (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES sessions (id),
    token_hash TEXT NOT NULL UNIQUE, -- lowercase hex SHA-256 of the token
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX session_tokens_session ON session_tokens (session_id);
