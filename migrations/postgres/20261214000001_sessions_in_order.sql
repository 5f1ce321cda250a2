-- An export or a report reads a programme's (or an organisation's)
-- sessions in id order, a page at a time: with these indexes a page is a
-- range scan, never a sort of every remaining session. (SQLite's index on
-- programme_id already ends with the rowid, which is the id.)
CREATE INDEX sessions_programme_order ON sessions (programme_id, id);
CREATE INDEX sessions_org_order ON sessions (org_id, id);
DROP INDEX sessions_programme;
