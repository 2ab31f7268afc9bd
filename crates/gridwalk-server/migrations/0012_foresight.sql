-- 未诉先办: the columns the coverage, hotspot and nearby reads group and filter by, so none of
-- them parses a view. Filled by the views' rebuild (VIEWS_VERSION 5).
-- A visit: who made it, when it started, in which mode, and how far its GPS point lay from
-- the courtyard's registry point (NULL without a point).
ALTER TABLE visits ADD COLUMN worker_id TEXT;
ALTER TABLE visits ADD COLUMN started_at_ms INTEGER;
ALTER TABLE visits ADD COLUMN mode TEXT;
ALTER TABLE visits ADD COLUMN distance_m REAL;
-- Covers the coverage GROUP BY over a time range: the table is never read.
CREATE INDEX visits_coverage ON visits (started_at_ms, courtyard_id, worker_id, mode, distance_m);
-- An issue's point (its report's GPS fix, else its courtyard's) and the earlier issue it repeats.
ALTER TABLE issues ADD COLUMN lat REAL;
ALTER TABLE issues ADD COLUMN lon REAL;
ALTER TABLE issues ADD COLUMN recurrence_of TEXT;
-- "Already reported nearby" at intake: open issues of a category in a latitude band. Only
-- open issues are in it, so it stays small however many are closed.
CREATE INDEX issues_open_near ON issues (category, lat) WHERE status IN ('reported', 'responded', 'in_progress');
-- Covers the hotspot, trend and recurrence GROUP BYs over a receipt range: the table is
-- read only when a scope narrows by community or subdistrict.
CREATE INDEX issues_foresight ON issues (received_at_ms, courtyard_id, category, status, source, recurrence_of);
