CREATE INDEX cantata_audience_member_key ON cantata_audience_member (audience, version, key);
