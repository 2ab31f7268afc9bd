-- 4: messages to residents (告知进展、告知结果). The server queues one row per event that tells
-- the resident something (a response, a public progress step, a resolution) in the same
-- transaction as the event; a background task sends queued rows through the configured sender
-- and records the outcome here. `phone` is the only copy outside the events, and it leaves the
-- server only through the sender.
CREATE TABLE notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The event the notice tells of; its id is the notice's id on the wire (Idempotency-Key).
    event_id TEXT NOT NULL UNIQUE,
    issue_id TEXT NOT NULL,
    -- responded | progress | resolved
    kind TEXT NOT NULL,
    -- What may be told once per issue: `responded`, `resolved:<round>` (one per reopening),
    -- `progress:<event id>`. A late event that displaces one already told (fold order) does not
    -- tell the resident twice.
    topic TEXT NOT NULL,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    created_ms INTEGER NOT NULL,
    sent_ms INTEGER,
    UNIQUE (issue_id, topic)
);
CREATE INDEX notices_due ON notices (next_attempt_ms) WHERE state = 'queued';
