-- Each message keeps its activity's category (marketing | transactional): frequency caps
-- count marketing messages only, so a booking confirmation never uses up a marketing cap.
-- IF NOT EXISTS: applying it again (its test does) only repeats the backfill.
ALTER TABLE cantata_delivery ADD COLUMN IF NOT EXISTS category TEXT NOT NULL DEFAULT 'marketing';

UPDATE cantata_delivery d SET category = 'transactional'
FROM cantata_delivery_activity a
WHERE a.run = d.run AND a.activity = d.activity
  AND CAST(a.settings AS json) ->> 'category' = 'transactional';
