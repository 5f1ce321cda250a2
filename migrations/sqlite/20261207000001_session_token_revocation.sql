-- Learner tokens remember the API key that created them (revoking the key
-- invalidates them) and can be revoked themselves; expired ones are
-- deleted by the server, found by their expiry.
ALTER TABLE session_tokens ADD COLUMN api_key_id INTEGER REFERENCES api_keys (id);
ALTER TABLE session_tokens ADD COLUMN revoked_at INTEGER;
CREATE INDEX session_tokens_expiry ON session_tokens (expires_at);
