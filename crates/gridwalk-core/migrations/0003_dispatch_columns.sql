-- What the field screens need of the dispatch steps, folded into each issue's row: whose issue
-- it is now (the fold's owner: the assigned worker, or for an undispatched tablet report its
-- reporter), whether its response clock still runs, when it was accepted, how often it was
-- urged or sent back by a review, and every department it was whistled to (the department
-- inbox). Rows written before this migration are re-folded once on the next open.
ALTER TABLE issues ADD COLUMN owner_id TEXT;
ALTER TABLE issues ADD COLUMN clock_runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN accepted_at_ms INTEGER;
ALTER TABLE issues ADD COLUMN urged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN review_returns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN whistle_targets TEXT NOT NULL DEFAULT '[]';
CREATE INDEX issues_owner ON issues(owner_id, response_due_ms);
INSERT INTO meta (key, value) VALUES ('refold_issues', '0003') ON CONFLICT(key) DO UPDATE SET value = excluded.value;
