-- PostgreSQL 1: the schema of SQLite migrations 1 to 9, in PostgreSQL's words. From here on the
-- two engines' migrations are appended side by side, one file each per change.
--
-- Every text column is COLLATE "C": ids and keyset cursors compare byte by byte, as in SQLite,
-- whatever the cluster's locale. Every integer is a BIGINT (SQLite's INTEGER is 64-bit).

CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT COLLATE "C" NOT NULL);
CREATE TABLE subdistricts (id TEXT COLLATE "C" PRIMARY KEY, code TEXT COLLATE "C" NOT NULL UNIQUE, json TEXT NOT NULL);
CREATE TABLE communities (
    id TEXT COLLATE "C" PRIMARY KEY, code TEXT COLLATE "C" NOT NULL UNIQUE, subdistrict_id TEXT COLLATE "C" NOT NULL, json TEXT NOT NULL
);
CREATE TABLE management_grids (id TEXT COLLATE "C" PRIMARY KEY, code TEXT COLLATE "C" NOT NULL UNIQUE, json TEXT NOT NULL);
CREATE TABLE technical_grids (id TEXT COLLATE "C" PRIMARY KEY, code TEXT COLLATE "C" NOT NULL UNIQUE, json TEXT NOT NULL);
CREATE TABLE courtyards (
    id TEXT COLLATE "C" PRIMARY KEY, code TEXT COLLATE "C" NOT NULL UNIQUE, community_id TEXT COLLATE "C" NOT NULL,
    subdistrict_id TEXT COLLATE "C" NOT NULL, json TEXT NOT NULL
);
CREATE TABLE workers (
    id TEXT COLLATE "C" PRIMARY KEY, username TEXT COLLATE "C" NOT NULL UNIQUE, name TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL, scope_json TEXT NOT NULL, password_hash TEXT COLLATE "C" NOT NULL,
    created_ms BIGINT NOT NULL, disabled_ms BIGINT
);
CREATE TABLE devices (
    id TEXT COLLATE "C" PRIMARY KEY, worker_id TEXT COLLATE "C" NOT NULL REFERENCES workers(id), name TEXT COLLATE "C" NOT NULL,
    token_hash TEXT COLLATE "C" UNIQUE, created_ms BIGINT NOT NULL, revoked_ms BIGINT,
    held_seq BIGINT NOT NULL DEFAULT 0, expires_ms BIGINT, kind TEXT COLLATE "C" NOT NULL DEFAULT 'tablet'
);
CREATE INDEX devices_worker ON devices (worker_id);
CREATE TABLE login_failures (
    username TEXT COLLATE "C" PRIMARY KEY, consecutive BIGINT NOT NULL, locked_until_ms BIGINT
);
CREATE TABLE login_failures_by_address (
    username TEXT COLLATE "C" NOT NULL, address TEXT COLLATE "C" NOT NULL, consecutive BIGINT NOT NULL, locked_until_ms BIGINT,
    PRIMARY KEY (username, address)
);

-- The event log. `server_seq` is handed out by `gw_next_seq` below, never by a column default:
-- a reader must be able to tell which sequences may still commit (see `gw_safe_seq`).
CREATE SEQUENCE event_server_seq AS BIGINT MINVALUE 1;
CREATE TABLE events (
    server_seq BIGINT PRIMARY KEY,
    event_id TEXT COLLATE "C" NOT NULL UNIQUE,
    device_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT COLLATE "C" NOT NULL,
    entity_kind TEXT COLLATE "C" NOT NULL,
    entity_id TEXT COLLATE "C" NOT NULL,
    courtyard_id TEXT COLLATE "C" NOT NULL,
    community_id TEXT COLLATE "C" NOT NULL,
    subdistrict_id TEXT COLLATE "C" NOT NULL,
    received_ms BIGINT NOT NULL,
    json TEXT NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE INDEX events_entity ON events (entity_kind, entity_id);
-- A stored event is a fact a tablet was told is safe: nothing may change or remove it.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: a stored event is never %d', lower(TG_OP);
END $$;
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_append_only_truncate BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

CREATE TABLE refusals (
    device_id TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL, event_id TEXT COLLATE "C" NOT NULL, hash TEXT COLLATE "C" NOT NULL,
    outcome TEXT COLLATE "C" NOT NULL, code TEXT COLLATE "C" NOT NULL, reason TEXT NOT NULL, received_ms BIGINT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE issues (
    id TEXT COLLATE "C" PRIMARY KEY, courtyard_id TEXT COLLATE "C" NOT NULL, community_id TEXT COLLATE "C" NOT NULL,
    subdistrict_id TEXT COLLATE "C" NOT NULL, status TEXT COLLATE "C" NOT NULL, received_at_ms BIGINT,
    response_due_ms BIGINT, category TEXT COLLATE "C", closed_at_ms BIGINT,
    view_json TEXT NOT NULL DEFAULT '{}', pledged_by TEXT COLLATE "C", assignee TEXT COLLATE "C",
    public_id TEXT COLLATE "C", source TEXT COLLATE "C", responded_at_ms BIGINT, resolved_at_ms BIGINT,
    satisfaction TEXT COLLATE "C"
);
CREATE INDEX issues_courtyard ON issues (courtyard_id);
CREATE INDEX issues_recurrence ON issues (category, closed_at_ms);
CREATE INDEX issues_received ON issues (received_at_ms);
CREATE INDEX issues_open ON issues (status) WHERE status <> 'closed';
CREATE INDEX issues_assignee ON issues (assignee) WHERE assignee IS NOT NULL;
CREATE UNIQUE INDEX issues_public_id ON issues (public_id);
CREATE INDEX issues_public_page ON issues (received_at_ms, public_id);
CREATE INDEX issues_ticket_page ON issues (received_at_ms DESC, id DESC);
CREATE INDEX issues_status_page ON issues (status, received_at_ms DESC, id DESC);
CREATE INDEX issues_courtyard_page ON issues (courtyard_id, received_at_ms DESC, id DESC);
CREATE INDEX issues_unanswered ON issues (response_due_ms) WHERE responded_at_ms IS NULL;
CREATE INDEX issues_resolved_at ON issues (resolved_at_ms);
CREATE TABLE visits (
    id TEXT COLLATE "C" PRIMARY KEY, courtyard_id TEXT COLLATE "C" NOT NULL, community_id TEXT COLLATE "C" NOT NULL,
    subdistrict_id TEXT COLLATE "C" NOT NULL, state_json TEXT NOT NULL
);
CREATE INDEX visits_courtyard ON visits (courtyard_id);
CREATE TABLE hotline_orders (
    order_no TEXT COLLATE "C" PRIMARY KEY, issue_id TEXT COLLATE "C" NOT NULL, courtyard_id TEXT COLLATE "C" NOT NULL,
    received_at_ms BIGINT NOT NULL, created_ms BIGINT NOT NULL
);
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at_ms BIGINT NOT NULL, actor TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX audit_actor ON audit (actor, id);
CREATE INDEX audit_action ON audit (action, id);
CREATE TABLE issue_whistles (
    issue_id TEXT COLLATE "C" NOT NULL, target TEXT COLLATE "C" NOT NULL, level TEXT COLLATE "C" NOT NULL,
    whistled_at_ms BIGINT NOT NULL, reported_in_at_ms BIGINT,
    PRIMARY KEY (issue_id, target, whistled_at_ms)
);
CREATE INDEX issue_whistles_target ON issue_whistles (target);
-- `id` stands for SQLite's rowid: the order escalations were recorded in.
CREATE TABLE escalations (
    id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    issue_id TEXT COLLATE "C" NOT NULL, kind TEXT COLLATE "C" NOT NULL, level TEXT COLLATE "C" NOT NULL DEFAULT '',
    at_ms BIGINT NOT NULL, detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (issue_id, kind, level)
);
CREATE TABLE api_keys (
    id TEXT COLLATE "C" PRIMARY KEY, name TEXT COLLATE "C" NOT NULL, key_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL, revoked_ms BIGINT
);
CREATE TABLE notices (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT COLLATE "C" NOT NULL UNIQUE,
    issue_id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    topic TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    text TEXT NOT NULL,
    state TEXT COLLATE "C" NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT,
    created_ms BIGINT NOT NULL,
    sent_ms BIGINT,
    UNIQUE (issue_id, topic)
);
CREATE INDEX notices_due ON notices (next_attempt_ms) WHERE state = 'queued';
CREATE TABLE courtyard_workers (
    courtyard_id TEXT COLLATE "C" PRIMARY KEY, worker_id TEXT COLLATE "C" NOT NULL REFERENCES workers(id), set_ms BIGINT NOT NULL
);
CREATE INDEX courtyard_workers_worker ON courtyard_workers (worker_id);
CREATE TABLE notify_tokens (
    token_hash TEXT COLLATE "C" PRIMARY KEY, device_id TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES devices(id), created_ms BIGINT NOT NULL
);
CREATE TABLE unplaced_orders (
    order_no TEXT COLLATE "C" PRIMARY KEY, intake_json TEXT NOT NULL, reason TEXT NOT NULL,
    subdistrict_id TEXT COLLATE "C", community_id TEXT COLLATE "C", received_at_ms BIGINT NOT NULL, queued_ms BIGINT NOT NULL,
    placed_issue TEXT COLLATE "C", placed_ms BIGINT
);
CREATE INDEX unplaced_orders_open ON unplaced_orders (queued_ms) WHERE placed_issue IS NULL;
CREATE TABLE photo_refs (
    sha256 TEXT COLLATE "C" NOT NULL, device_id TEXT COLLATE "C" NOT NULL, bytes BIGINT,
    PRIMARY KEY (sha256, device_id)
);
CREATE TABLE blob_uploads (
    sha256 TEXT COLLATE "C" NOT NULL, device_id TEXT COLLATE "C" NOT NULL, bytes BIGINT NOT NULL, updated_ms BIGINT NOT NULL,
    PRIMARY KEY (sha256, device_id)
);
CREATE INDEX blob_uploads_device ON blob_uploads (device_id, updated_ms);
CREATE TABLE device_reports (
    device_id TEXT COLLATE "C" PRIMARY KEY REFERENCES devices(id), reported_ms BIGINT NOT NULL,
    queue_depth BIGINT NOT NULL, oldest_unsent_ms BIGINT, rejected_count BIGINT NOT NULL,
    clock_offset_ms BIGINT NOT NULL, app_version TEXT COLLATE "C" NOT NULL
);

-- Jobs that must run in one process at a time across several (the escalation sweep): who
-- holds each, until when. A holder that dies stops renewing, and another takes over.
CREATE TABLE leases (
    name TEXT COLLATE "C" PRIMARY KEY, holder TEXT COLLATE "C" NOT NULL, until_ms BIGINT NOT NULL
);

-- # A pull cursor that never skips
-- Sequences are handed out before commit and transactions commit in any order, so a reader
-- could see server_seq 12 committed while 11 is still in flight, move its cursor past 11 and
-- never see it. Every writing transaction therefore first *claims* its place: under a short
-- exclusive advisory lock it takes a sequence number and holds a transaction-scoped advisory
-- lock on it (key 2^62 + seq) until it ends. Everything it stores gets a later number. A
-- reader asks `gw_safe_seq()`: under the same lock, shared, the lowest claim still held (less
-- one), or the last number handed out when none is. Nothing at or below that can still
-- commit, so a cursor never moves past a row that is not yet visible.
CREATE FUNCTION gw_claim_seq() RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE s BIGINT;
BEGIN
    PERFORM pg_advisory_lock(4611686018427387903);
    s := nextval('event_server_seq');
    PERFORM pg_advisory_xact_lock_shared(4611686018427387904 + s);
    PERFORM pg_advisory_unlock(4611686018427387903);
    RETURN s;
END $$;
CREATE FUNCTION gw_safe_seq() RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE low BIGINT; top BIGINT; called BOOLEAN;
BEGIN
    PERFORM pg_advisory_lock_shared(4611686018427387903);
    -- A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid (low 32).
    SELECT min(((l.classid::bigint - 1073741824) << 32) | l.objid::bigint) INTO low
      FROM pg_locks l
     WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid::bigint >= 1073741824
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database());
    SELECT last_value, is_called INTO top, called FROM event_server_seq;
    PERFORM pg_advisory_unlock_shared(4611686018427387903);
    IF low IS NOT NULL THEN
        RETURN low - 1;
    ELSIF called THEN
        RETURN top;
    ELSE
        RETURN 0;
    END IF;
END $$;
