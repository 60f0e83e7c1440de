-- Waiting node runs are found by status and wake time. PostgreSQL only: DuckDB scans this
-- small table by zone maps, and an index there turns every status update into index work.
CREATE INDEX cantata_node_run_wake ON cantata_node_run (status, wake_at);
