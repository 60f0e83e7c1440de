-- customer: {"link": "bookings", "where": {"field": "hotel.stars", "op": "gte", "value": 4}, "count": {"op": "lt", "value": 2}}
SELECT
  `customer`.`customer_id`
FROM `customer` AS `customer`
WHERE
  NOT EXISTS(
    SELECT
      1
    FROM (
      SELECT
        `bookings`.`customer_id` AS `key`
      FROM `booking` AS `bookings`
      LEFT JOIN `hotel` AS `hotel`
        ON `bookings`.`hotel_id` = `hotel`.`hotel_id`
      WHERE
        `hotel`.`stars` >= 4
      GROUP BY
        `bookings`.`customer_id`
      HAVING
        COUNT(*) >= 2
    ) AS `bookings_set`
    WHERE
      `bookings_set`.`key` = `customer`.`customer_id`
  )
