-- customer: {"all": [{"audience": "vips"}, {"not": {"history": {"channel": "email", "event": "opened", "since": {"ago": "30d"}}}}]}
SELECT
  `customer`.`customer_id`
FROM `customer` AS `customer`
WHERE
  CAST(`customer`.`customer_id` AS STRING) IN (
    SELECT
      `member`.`key`
    FROM `cantata_audience_member` AS `member`
    WHERE
      `member`.`audience` = 'vips'
      AND `member`.`version` = (
        SELECT
          MAX(`audience`.`version`)
        FROM `cantata_audience` AS `audience`
        WHERE
          `audience`.`name` = 'vips'
      )
  )
  AND NOT EXISTS(
    SELECT
      1
    FROM `cantata_history` AS `history`
    WHERE
      `history`.`channel` = 'email'
      AND `history`.`event` = 'opened'
      AND `history`.`at` >= CAST('2026-01-30 12:00:00' AS TIMESTAMP)
      AND `history`.`recipient` = CAST(`customer`.`customer_id` AS STRING)
  )
