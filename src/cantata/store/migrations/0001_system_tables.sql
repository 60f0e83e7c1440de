-- Profile integration: consent and suppression are the source of truth for who may be sent to.
-- Recipient keys are stored as text so these tables do not depend on the model's key type.
CREATE TABLE cantata_consent (
    recipient TEXT NOT NULL,
    channel TEXT NOT NULL,
    purpose TEXT NOT NULL DEFAULT 'marketing',
    status TEXT NOT NULL,          -- granted | denied
    source TEXT,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (recipient, channel, purpose)
);

CREATE TABLE cantata_suppression (
    address TEXT NOT NULL,          -- normalised: emails lower-cased, phones as given digits
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,           -- hard_bounce | complaint | unsubscribed | manual | ...
    since TIMESTAMP NOT NULL,
    source TEXT,
    PRIMARY KEY (channel, address)
);

-- Communication history: every message and every feedback event on it.
CREATE TABLE cantata_history (
    message_id TEXT NOT NULL,
    campaign TEXT,
    campaign_version INTEGER,
    activity TEXT,
    run_id TEXT,
    recipient TEXT NOT NULL,
    secondary_entity TEXT,
    secondary_key TEXT,
    channel TEXT NOT NULL,
    event TEXT NOT NULL,            -- sent | delivered | bounced | opened | clicked | unsubscribed | complained
    "at" TIMESTAMP NOT NULL,      -- quoted: AT is a keyword in DuckDB
    details TEXT                    -- JSON
);

-- The model last applied, so evolution can tell additions from destructive changes.
CREATE TABLE cantata_model_state (
    id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL
);
