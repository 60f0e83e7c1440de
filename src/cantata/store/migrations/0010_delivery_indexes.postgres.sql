-- Dispatchers claim due pending messages; reports group by run and activity.
CREATE INDEX cantata_delivery_due ON cantata_delivery (next_attempt_at) WHERE status IN ('pending', 'claimed');
CREATE INDEX cantata_delivery_activity_idx ON cantata_delivery (run, activity, status);
