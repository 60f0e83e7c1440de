-- Campaigns, their immutable published versions, and the runs that execute them.
-- JSON is stored as TEXT (as in the other system tables); times are naive UTC.

-- state: draft | live | paused | stopped | completed | closed | archived
CREATE TABLE cantata_campaign (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- A published version never changes; a draft (at most one, numbered after the last published
-- version) is replaced until it is published. status: draft | published
CREATE TABLE cantata_campaign_version (
    campaign TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    definition TEXT NOT NULL,       -- JSON: the campaign document
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (campaign, version)
);

-- The saved audiences each version reads, so that an audience read by a live campaign is not
-- deleted (cantata.audience.portal.used_by_live_campaigns reads the view below).
CREATE TABLE cantata_campaign_version_audience (
    campaign TEXT NOT NULL,
    version INTEGER NOT NULL,
    audience TEXT NOT NULL
);

CREATE VIEW cantata_campaign_audience AS
SELECT a.campaign, a.audience, c.state IN ('live', 'paused') AS live
FROM cantata_campaign_version_audience a
JOIN cantata_campaign c ON c.name = a.campaign
WHERE a.version = (
    SELECT max(v.version) FROM cantata_campaign_version v
    WHERE v.campaign = a.campaign AND v.status = 'published'
);

CREATE SEQUENCE cantata_run_id START 1;

-- status: running | paused | stopped | completed | failed | suspended | waiting
-- A test run executes a draft: version is null and the definition is kept on the run.
CREATE TABLE cantata_run (
    id BIGINT PRIMARY KEY,
    campaign TEXT NOT NULL,
    version INTEGER,
    definition TEXT,
    status TEXT NOT NULL,
    variables TEXT NOT NULL,        -- JSON: name -> value
    idempotency_key TEXT,
    test_mode BOOLEAN NOT NULL,
    parent_run BIGINT,              -- started by another run's end activity
    as_of TIMESTAMP NOT NULL,       -- the time the run's sources read the data at
    errors INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    purged_at TIMESTAMP,            -- worktables dropped (retention)
    UNIQUE (campaign, idempotency_key)
);

-- One row per activity of a run, written when it starts; `attempt` counts redos.
-- status: running | done | skipped | failed | waiting | pending_delivery
CREATE TABLE cantata_node_run (
    run BIGINT NOT NULL,
    node TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    seq INTEGER,                    -- completion order within the run (or_join's "first")
    as_of TIMESTAMP NOT NULL,       -- the time its rules and durations are evaluated at
    wake_at TIMESTAMP,              -- waits: when the run continues
    counts TEXT,                    -- JSON: output port -> rows
    statements TEXT,                -- JSON: [{sql, ms}] executed by the last attempt
    details TEXT,                   -- JSON: what the activity decided (branch, audience version...)
    error TEXT,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    elapsed_ms DOUBLE PRECISION,
    PRIMARY KEY (run, node)
);

-- What leaves each output port of a completed activity: the rows whose `_port` column is
-- `slice` in `worktable` (null for a transition carrying no rows).
CREATE TABLE cantata_transition (
    run BIGINT NOT NULL,
    node TEXT NOT NULL,
    port TEXT NOT NULL,
    worktable TEXT,
    slice TEXT,
    row_count BIGINT,
    activated BOOLEAN NOT NULL,
    PRIMARY KEY (run, node, port)
);

-- Keys output by incremental queries, remembered for `history_days`.
CREATE TABLE cantata_incremental_key (
    campaign TEXT NOT NULL,
    node TEXT NOT NULL,
    key TEXT NOT NULL,
    run BIGINT NOT NULL,
    output_at TIMESTAMP NOT NULL
);
CREATE INDEX cantata_incremental_key_lookup ON cantata_incremental_key (campaign, node, key);

CREATE TABLE cantata_alert (
    run BIGINT NOT NULL,
    node TEXT NOT NULL,
    message TEXT NOT NULL,
    recipients TEXT NOT NULL,       -- JSON list
    raised_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run, node)
);
