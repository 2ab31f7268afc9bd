-- Access that can be taken back: disabled workers, device tokens that expire unless a sync
-- renews them, and login failures counted per (username, client address).
-- A disabled worker's devices are refused at once and their logins too; NULL = enabled.
ALTER TABLE workers ADD COLUMN disabled_ms INTEGER;
-- When a device's token stops working unless a sync renews it first. NULL (devices enrolled
-- before this migration) is renewed by their next authenticated request.
ALTER TABLE devices ADD COLUMN expires_ms INTEGER;
CREATE INDEX devices_worker ON devices (worker_id);
-- Consecutive failed logins from one address for one username, and the lock they set. The
-- table login_failures keeps counting per username alone, against a higher threshold.
CREATE TABLE login_failures_by_address (
    username TEXT NOT NULL, address TEXT NOT NULL, consecutive INTEGER NOT NULL, locked_until_ms INTEGER,
    PRIMARY KEY (username, address)
) WITHOUT ROWID;
