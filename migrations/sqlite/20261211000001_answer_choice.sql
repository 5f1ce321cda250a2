-- The number (1-based) of the choice a quiz answer picked; NULL for a
-- free-text rule, a reply that matched nothing (exhausted), and answers
-- recorded before this column existed. Read by the item analysis.
ALTER TABLE quiz_answers ADD COLUMN choice INTEGER;
