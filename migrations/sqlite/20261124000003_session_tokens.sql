-- Learner tokens: each opens the live chat (WebSocket) of one session until
-- it expires. Only the hash of the token is stored.
CREATE TABLE session_tokens (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    token_hash TEXT NOT NULL UNIQUE, -- lowercase hex SHA-256 of the token
    expires_at INTEGER NOT NULL
);
CREATE INDEX session_tokens_session ON session_tokens (session_id);
