-- Saved audiences: each save makes a new version; members of every version are kept so a
-- campaign run can read the version it started with.
CREATE TABLE cantata_audience (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    entity TEXT NOT NULL,
    size BIGINT NOT NULL,
    source TEXT NOT NULL,           -- JSON: {"rule": ...} | {"file": ...} | {"campaign": ...}
    mode TEXT NOT NULL,             -- replace | append | import
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (name, version)
);

-- Keys as text, like the recipient in the system tables, independent of the key type.
CREATE TABLE cantata_audience_member (
    audience TEXT NOT NULL,
    version INTEGER NOT NULL,
    key TEXT NOT NULL
);
