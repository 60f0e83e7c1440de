-- Each message keeps its activity's category (marketing | transactional): frequency caps
-- count marketing messages only, so a booking confirmation never uses up a marketing cap.
-- IF NOT EXISTS: applying it again (its test does) only repeats the backfill.
ALTER TABLE cantata_delivery ADD COLUMN IF NOT EXISTS category TEXT DEFAULT 'marketing';

UPDATE cantata_delivery SET category = 'transactional'
FROM cantata_delivery_activity a
WHERE a.run = cantata_delivery.run AND a.activity = cantata_delivery.activity
  AND json_extract_string(a.settings, '$.category') = 'transactional';
