-- 1: registry, workers and devices, the event log and its views, audit.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE subdistricts (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, json TEXT NOT NULL);
CREATE TABLE communities (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, subdistrict_id TEXT NOT NULL, json TEXT NOT NULL);
CREATE TABLE management_grids (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, json TEXT NOT NULL);
CREATE TABLE technical_grids (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, json TEXT NOT NULL);
CREATE TABLE courtyards (
    id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, community_id TEXT NOT NULL,
    subdistrict_id TEXT NOT NULL, json TEXT NOT NULL
);
CREATE TABLE workers (
    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL,
    scope_json TEXT NOT NULL, password_hash TEXT NOT NULL, created_ms INTEGER NOT NULL
);
CREATE TABLE devices (
    id TEXT PRIMARY KEY, worker_id TEXT NOT NULL REFERENCES workers(id), name TEXT NOT NULL,
    token_hash TEXT UNIQUE, created_ms INTEGER NOT NULL, revoked_ms INTEGER,
    held_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE login_failures (
    username TEXT PRIMARY KEY, consecutive INTEGER NOT NULL, locked_until_ms INTEGER
);
CREATE TABLE events (
    server_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    courtyard_id TEXT NOT NULL,
    community_id TEXT NOT NULL,
    subdistrict_id TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    json TEXT NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE INDEX events_entity ON events (entity_kind, entity_id);
CREATE TABLE refusals (
    device_id TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL, hash TEXT NOT NULL,
    outcome TEXT NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL, received_ms INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE issues (
    id TEXT PRIMARY KEY, courtyard_id TEXT NOT NULL, community_id TEXT NOT NULL,
    subdistrict_id TEXT NOT NULL, status TEXT NOT NULL, received_at_ms INTEGER,
    response_due_ms INTEGER, state_json TEXT NOT NULL
);
CREATE INDEX issues_courtyard ON issues (courtyard_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY, courtyard_id TEXT NOT NULL, community_id TEXT NOT NULL,
    subdistrict_id TEXT NOT NULL, state_json TEXT NOT NULL
);
CREATE INDEX visits_courtyard ON visits (courtyard_id);
CREATE TABLE hotline_orders (
    order_no TEXT PRIMARY KEY, issue_id TEXT NOT NULL, courtyard_id TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, detail TEXT NOT NULL
);
