-- REST API tokens. The secret is never stored: `secret_hash` is the SHA-256 of the whole
-- token; `lookup` is its public part, to find the row before comparing hashes in constant
-- time. A revoked token stays listed (revoked_at) and its name is not reused.
-- role: viewer | editor | publisher | admin
CREATE TABLE cantata_api_token (
    name TEXT PRIMARY KEY,
    lookup TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    last_used_at TIMESTAMP
);
