-- 2: the 接诉即办 workflow (whistles, escalations, facts for the three rates and recurrence)
--    and Open311 API keys.
ALTER TABLE issues ADD COLUMN category TEXT;
ALTER TABLE issues ADD COLUMN closed_at_ms INTEGER;
CREATE INDEX issues_recurrence ON issues (category, closed_at_ms);
-- Who was whistled on which issue: department staff see exactly these issues.
CREATE TABLE issue_whistles (
    issue_id TEXT NOT NULL, target TEXT NOT NULL, level TEXT NOT NULL,
    whistled_at_ms INTEGER NOT NULL, reported_in_at_ms INTEGER,
    PRIMARY KEY (issue_id, target, whistled_at_ms)
);
CREATE INDEX issue_whistles_target ON issue_whistles (target);
-- Escalations the server has carried out, so each happens once.
CREATE TABLE escalations (
    issue_id TEXT NOT NULL, kind TEXT NOT NULL, level TEXT NOT NULL DEFAULT '',
    at_ms INTEGER NOT NULL, detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (issue_id, kind, level)
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL, revoked_ms INTEGER
);
