-- Trust (issue #12): a photo upload must be for a photo an event of the uploading device
-- names, and each device has a daily upload quota.
-- Which device's stored events name which photo, with the size the event declared.
CREATE TABLE photo_refs (
    sha256 TEXT NOT NULL, device_id TEXT NOT NULL, bytes INTEGER,
    PRIMARY KEY (sha256, device_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO photo_refs (sha256, device_id, bytes)
    SELECT json_extract(json, '$.body.payload.sha256'), device_id, json_extract(json, '$.body.payload.bytes') FROM events
    WHERE json_extract(json, '$.body.kind') = 'photo_attached';
INSERT OR IGNORE INTO photo_refs (sha256, device_id, bytes)
    SELECT json_extract(json, '$.body.payload.photo_sha256'), device_id, NULL FROM events
    WHERE json_extract(json, '$.body.kind') = 'issue_resolved' AND json_extract(json, '$.body.payload.photo_sha256') IS NOT NULL;
-- Bytes each device uploaded of each blob, and when it last did: the quota sums a day of them.
CREATE TABLE blob_uploads (
    sha256 TEXT NOT NULL, device_id TEXT NOT NULL, bytes INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    PRIMARY KEY (sha256, device_id)
) WITHOUT ROWID;
CREATE INDEX blob_uploads_device ON blob_uploads (device_id, updated_ms);
