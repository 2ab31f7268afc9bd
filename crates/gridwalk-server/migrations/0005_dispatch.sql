-- Named people and the dispatch steps (接诉即办).
-- Each courtyard's responsible grid worker (责任网格员): an order there is assigned to them.
CREATE TABLE courtyard_workers (
    courtyard_id TEXT PRIMARY KEY, worker_id TEXT NOT NULL REFERENCES workers(id), set_ms INTEGER NOT NULL
);
CREATE INDEX courtyard_workers_worker ON courtyard_workers (worker_id);
-- Whom each issue is assigned to now, as its view says: 'worker:<id>', 'community:<id>' or
-- 'dispatcher'. The queues read it.
ALTER TABLE issues ADD COLUMN assignee TEXT;
CREATE INDEX issues_assignee ON issues (assignee) WHERE assignee IS NOT NULL;
-- Notify-only tokens, one per device: they answer "N new for you" and nothing else, so a
-- locked tablet may hold one outside its encrypted store. Revoked with the device.
CREATE TABLE notify_tokens (
    token_hash TEXT PRIMARY KEY, device_id TEXT NOT NULL UNIQUE REFERENCES devices(id), created_ms INTEGER NOT NULL
);
-- Orders that could not be placed at a courtyard: the district dispatcher's queue. The order
-- is kept as it came (its contact too: it leaves the server only as a masked phone) until a
-- dispatcher places it, which files its issue under the same order number.
CREATE TABLE unplaced_orders (
    order_no TEXT PRIMARY KEY, intake_json TEXT NOT NULL, reason TEXT NOT NULL,
    subdistrict_id TEXT, community_id TEXT, received_at_ms INTEGER NOT NULL, queued_ms INTEGER NOT NULL,
    placed_issue TEXT, placed_ms INTEGER
);
CREATE INDEX unplaced_orders_open ON unplaced_orders (queued_ms) WHERE placed_issue IS NULL;
