-- The delivery ledger (the outbox): one row per message, keyed by a deterministic id derived
-- from (run, activity, recipient, secondary key), so queueing twice never makes two messages.
-- status: pending → claimed (under a lease) → sent | failed; or excluded (with reason).
-- Feedback (delivered, bounced, opened, ...) lands in cantata_history; `feedback` keeps the
-- latest for quick reads.
CREATE TABLE cantata_delivery (
    message_id TEXT PRIMARY KEY,
    run INTEGER NOT NULL,
    activity TEXT NOT NULL,
    campaign TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    secondary_entity TEXT,          -- with one message per row of another entity (a booking)
    secondary_key TEXT,
    address TEXT,
    status TEXT NOT NULL,           -- pending | excluded | claimed | sent | failed
    reason TEXT,                    -- why excluded, or the last error
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    provider_id TEXT,
    feedback TEXT
);

-- One row per channel activity of a run being delivered: what to render from, and its state.
CREATE TABLE cantata_delivery_activity (
    run INTEGER NOT NULL,
    activity TEXT NOT NULL,
    campaign TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,           -- awaiting_confirmation | sending | paused | done
    settings TEXT NOT NULL,         -- JSON: the channel activity's settings
    source TEXT NOT NULL,           -- JSON: worktable, slice and columns of the inbound rows
    variables TEXT NOT NULL,        -- JSON: the run's variables
    time_zone TEXT NOT NULL,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    queued_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    reason TEXT,
    PRIMARY KEY (run, activity)
);
