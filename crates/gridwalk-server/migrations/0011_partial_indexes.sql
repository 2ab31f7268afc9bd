-- A new issue is neither closed nor resolved, yet every report wrote an entry into these two
-- indexes for its NULL. Every lookup through them compares the column (a range of closing or
-- resolution times), which implies it is not NULL, so partial indexes serve the same queries
-- and a report writes two B-tree entries fewer.
DROP INDEX issues_recurrence;
CREATE INDEX issues_recurrence ON issues (category, closed_at_ms) WHERE closed_at_ms IS NOT NULL;
DROP INDEX issues_resolved_at;
CREATE INDEX issues_resolved_at ON issues (resolved_at_ms) WHERE resolved_at_ms IS NOT NULL;
