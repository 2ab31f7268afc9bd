-- Tablet store, first shape. Shipped migrations are never edited: add a new file instead.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Every event this tablet knows: its own and those pulled from the server. Immutable.
CREATE TABLE events (
    event_id    TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    hlc         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    server_seq  INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX events_entity ON events(entity_id, hlc);
CREATE TRIGGER events_immutable BEFORE UPDATE ON events
    WHEN NEW.body IS NOT OLD.body OR NEW.event_id IS NOT OLD.event_id
    BEGIN SELECT RAISE(ABORT, 'events are immutable'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are never deleted'); END;

-- This device's own append-only log. seq is gapless: each row is MAX(seq)+1 in the same
-- transaction that writes the event and the views. The outbox is every seq above the
-- server's acknowledged position (meta 'acked_seq').
CREATE TABLE device_log (
    seq          INTEGER PRIMARY KEY,
    event_id     TEXT NOT NULL UNIQUE REFERENCES events(event_id),
    recorded_ms  INTEGER NOT NULL,
    sync_state   TEXT NOT NULL DEFAULT 'queued'
                 CHECK (sync_state IN ('queued', 'synced', 'rejected', 'withdrawn')),
    reject_code  TEXT,
    reject_reason TEXT,
    bytes        INTEGER NOT NULL
) STRICT;
CREATE TRIGGER device_log_no_delete BEFORE DELETE ON device_log
    BEGIN SELECT RAISE(ABORT, 'the device log is append-only'); END;
CREATE TRIGGER device_log_fixed BEFORE UPDATE ON device_log
    WHEN NEW.seq IS NOT OLD.seq OR NEW.event_id IS NOT OLD.event_id
    BEGIN SELECT RAISE(ABORT, 'the device log is append-only'); END;

-- Current state, folded from events by gridwalk-domain.
CREATE TABLE issues (
    id               TEXT PRIMARY KEY,
    courtyard_id     TEXT,
    category         TEXT,
    source           TEXT,
    status           TEXT NOT NULL,
    description      TEXT,
    contact_masked   TEXT,
    received_at_ms   INTEGER NOT NULL,
    response_due_ms  INTEGER,
    responded_at_ms  INTEGER,
    resolved_at_ms   INTEGER,
    conflicts        INTEGER NOT NULL,
    updated_hlc      TEXT NOT NULL,
    -- queued while any of this tablet's events on it is unsent; rejected if one was refused.
    sync_state       TEXT NOT NULL DEFAULT 'synced'
) STRICT, WITHOUT ROWID;
CREATE INDEX issues_recent ON issues(received_at_ms DESC, id DESC);
CREATE INDEX issues_courtyard ON issues(courtyard_id, received_at_ms DESC, id DESC);

CREATE TABLE visits (
    id            TEXT PRIMARY KEY,
    courtyard_id  TEXT,
    worker_id     TEXT,
    mode          TEXT,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    notes         TEXT,
    residents_met INTEGER,
    linked_issues TEXT NOT NULL,
    sync_state    TEXT NOT NULL DEFAULT 'synced'
) STRICT;
CREATE INDEX visits_courtyard ON visits(courtyard_id, started_at_ms DESC, id DESC);
CREATE INDEX visits_recent ON visits(started_at_ms DESC, id DESC);

-- The registry in this worker's scope.
CREATE TABLE subdistricts (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, name TEXT NOT NULL, kind TEXT NOT NULL) STRICT;
CREATE TABLE communities (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, name TEXT NOT NULL, subdistrict_id TEXT NOT NULL) STRICT;
CREATE TABLE management_grids (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, subdistrict_id TEXT NOT NULL) STRICT;
CREATE TABLE technical_grids (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, management_grid_id TEXT NOT NULL, courtyard_id TEXT NOT NULL) STRICT;
CREATE TABLE courtyards (
    rid                INTEGER PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    code               TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    community_id       TEXT NOT NULL,
    management_grid_id TEXT NOT NULL,
    lat                REAL NOT NULL,
    lon                REAL NOT NULL
) STRICT;
CREATE INDEX courtyards_community ON courtyards(community_id, code);
CREATE INDEX courtyards_grid ON courtyards(management_grid_id, code);
-- Chinese substring search. The trigram tokenizer matches 3+ characters; shorter queries use LIKE.
CREATE VIRTUAL TABLE courtyards_fts USING fts5(search_text, tokenize = 'trigram');

-- Photos by content hash, inside the encrypted file so a lost tablet leaks nothing.
CREATE TABLE photos (
    sha256        TEXT PRIMARY KEY,
    mime          TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    data          BLOB NOT NULL,
    uploaded      INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL
) STRICT;
