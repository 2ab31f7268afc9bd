-- 3: lean views and an append-only event log.
-- The issue view no longer carries the issue's history: `GET /issues/{id}` folds the events,
-- as the tablet does, and a list reads a summary. Every view is rebuilt from the events once
-- after this migration (the server compares meta.views_version with its own).
ALTER TABLE issues DROP COLUMN state_json;
ALTER TABLE issues ADD COLUMN view_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE issues ADD COLUMN pledged_by TEXT;
CREATE INDEX issues_received ON issues (received_at_ms);
CREATE INDEX issues_open ON issues (status) WHERE status <> 'closed';
DELETE FROM meta WHERE key = 'views_version';
-- A stored event is a fact a tablet was told is safe: nothing may change or remove it.
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: a stored event is never updated');
END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: a stored event is never deleted');
END;
