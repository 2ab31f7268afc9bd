-- 未诉先办 on the tablet, offline: where each issue is (its report's GPS point, else its
-- courtyard's registry point) for "already reported nearby"; where each visit was, and each
-- courtyard's responsible worker, for "my courtyards this week". Rows written before this
-- migration are folded again once on the next open; the responsible workers come with the
-- next registry the server sends.
ALTER TABLE issues ADD COLUMN lat REAL;
ALTER TABLE issues ADD COLUMN lon REAL;
-- Open issues of a category in a latitude band: only open issues are in it.
CREATE INDEX issues_open_near ON issues(category, lat) WHERE status IN ('reported', 'responded', 'in_progress');
ALTER TABLE visits ADD COLUMN lat REAL;
ALTER TABLE visits ADD COLUMN lon REAL;
CREATE INDEX visits_worker ON visits(worker_id, started_at_ms);
ALTER TABLE courtyards ADD COLUMN responsible_id TEXT;
INSERT INTO meta (key, value) VALUES ('refold_issues', '0004') ON CONFLICT(key) DO UPDATE SET value = excluded.value;
