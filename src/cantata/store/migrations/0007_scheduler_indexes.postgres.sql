-- The claim query scans pending timers by fire_at; fired ones pile up and are never scanned.
-- (PostgreSQL only: DuckDB finds them by zone maps, and its indexes hinder updates.)
CREATE INDEX cantata_timer_due ON cantata_timer (fire_at) WHERE status = 'pending';
