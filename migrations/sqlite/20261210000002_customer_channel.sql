-- The channel a customer is reached on: the one they last wrote through
-- (or the one named at enrolment). NULL: the organisation's oldest
-- enabled channel that carries messages (docs/channels.md).
ALTER TABLE customers ADD COLUMN channel_id INTEGER REFERENCES channels (id);
