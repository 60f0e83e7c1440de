-- The scheduler: timers are rows with fire_at in UTC (naive TIMESTAMP, the stores run in UTC).
-- kind = 'occurrence': one scheduled occurrence of a campaign; occurrence_key is unique per
-- campaign, so planning twice never makes two runs for one occurrence.
-- kind = 'wait': a run waiting at a node; one timer per (run_id, node).
-- No foreign keys: campaigns and runs belong to the runner, which talks to us by callbacks.
CREATE TABLE cantata_timer (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('occurrence', 'wait')),
    campaign TEXT,
    version INTEGER,
    run_id TEXT,
    node TEXT,
    occurrence_key TEXT,
    fire_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'fired', 'missed', 'failed', 'cancelled')),
    fired_at TIMESTAMP,             -- the scheduler's clock when it fired (or skipped) the timer
    fired_by TEXT,                  -- the scheduler (lease owner) that did
    error TEXT,                     -- why the runner refused it, when failed
    UNIQUE (campaign, occurrence_key),
    UNIQUE (run_id, node)
);

-- What a scheduled campaign fires on, so the scheduler can keep `horizon` occurrences ahead
-- without reading the runner's tables.
CREATE TABLE cantata_schedule_plan (
    campaign TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    schedule TEXT NOT NULL,         -- JSON, as Schedule.model_dump(mode="json")
    time_zone TEXT NOT NULL,
    horizon INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'cancelled')),
    exhausted BOOLEAN NOT NULL,     -- no fire time after the last one planned
    scheduled_at TIMESTAMP NOT NULL
);

-- Named leases: one holder at a time until expires_at (the holder's clock, UTC).
CREATE TABLE cantata_lease (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    acquired_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- The claim query scans pending timers by fire_at; fired ones pile up and are never scanned.
-- (PostgreSQL only: DuckDB finds them by zone maps, and its indexes hinder updates.)
CREATE INDEX cantata_timer_due ON cantata_timer (fire_at) WHERE status = 'pending';
