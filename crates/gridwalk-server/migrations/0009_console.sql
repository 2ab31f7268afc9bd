-- 9: the district console.
-- A browser session is a device of its worker, of kind 'console': the same token hashes,
-- expiry, revocation and audit as a tablet, and the events it records are authored like a
-- tablet's (by the worker, from that device).
ALTER TABLE devices ADD COLUMN kind TEXT NOT NULL DEFAULT 'tablet';
-- What each tablet last said of its own sync (queue, oldest unsent, refusals, clock, version).
CREATE TABLE device_reports (
    device_id TEXT PRIMARY KEY REFERENCES devices(id), reported_ms INTEGER NOT NULL,
    queue_depth INTEGER NOT NULL, oldest_unsent_ms INTEGER, rejected_count INTEGER NOT NULL,
    clock_offset_ms INTEGER NOT NULL, app_version TEXT NOT NULL
);
-- The ticket list's filters and the overview's figures read columns, not view JSON.
ALTER TABLE issues ADD COLUMN source TEXT;
ALTER TABLE issues ADD COLUMN responded_at_ms INTEGER;
ALTER TABLE issues ADD COLUMN resolved_at_ms INTEGER;
ALTER TABLE issues ADD COLUMN satisfaction TEXT;
-- Newest receipt first, keyset by (received_at_ms, id): the ticket list's order.
CREATE INDEX issues_ticket_page ON issues (received_at_ms DESC, id DESC);
CREATE INDEX issues_status_page ON issues (status, received_at_ms DESC, id DESC);
CREATE INDEX issues_courtyard_page ON issues (courtyard_id, received_at_ms DESC, id DESC);
-- Today's figures: unanswered past due, and resolved today, each one indexed count.
CREATE INDEX issues_unanswered ON issues (response_due_ms) WHERE responded_at_ms IS NULL;
CREATE INDEX issues_resolved_at ON issues (resolved_at_ms);
CREATE INDEX audit_actor ON audit (actor, id);
CREATE INDEX audit_action ON audit (action, id);
-- Every view is rebuilt once to fill the new columns.
DELETE FROM meta WHERE key = 'views_version';
