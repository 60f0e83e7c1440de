-- customer: {"any": [{"link": "bookings", "aggregate": {"fn": "sum", "field": "amount", "op": "gt", "value": 1000}}, {"not": {"link": "bookings", "where": {"field": "check_in", "op": "gte", "value": {"ahead": "0d"}}}}]}
SELECT
  `customer`.`customer_id`
FROM `customer` AS `customer`
WHERE
  `customer`.`customer_id` IN (
    SELECT
      `bookings`.`customer_id`
    FROM `booking` AS `bookings`
    GROUP BY
      `bookings`.`customer_id`
    HAVING
      SUM(`bookings`.`amount`) > 1000
  )
  OR NOT EXISTS(
    SELECT
      1
    FROM `booking` AS `bookings_2`
    WHERE
      `bookings_2`.`check_in` >= CAST('2026-03-01' AS DATE)
      AND `bookings_2`.`customer_id` = `customer`.`customer_id`
  )
