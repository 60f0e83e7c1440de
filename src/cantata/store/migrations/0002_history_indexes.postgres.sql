-- PostgreSQL answers history conditions and report queries through these; DuckDB scans.
CREATE INDEX cantata_history_recipient ON cantata_history (recipient, channel, event, "at");
CREATE INDEX cantata_history_message ON cantata_history (message_id);
