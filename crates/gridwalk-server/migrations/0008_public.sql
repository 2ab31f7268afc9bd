-- The public listing (Open311 GET requests): each issue's public id, which is not its internal
-- id, and the index the listing pages by, newest first, one bounded query per page.
ALTER TABLE issues ADD COLUMN public_id TEXT;
CREATE UNIQUE INDEX issues_public_id ON issues (public_id);
CREATE INDEX issues_public_page ON issues (received_at_ms, public_id);
-- The views gain the public progress note and their rows the public id: rebuild them on open.
DELETE FROM meta WHERE key = 'views_version';
