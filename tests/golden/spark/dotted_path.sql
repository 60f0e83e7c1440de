-- booking: {"all": [{"field": "hotel.city", "op": "eq", "value": "Paris"}, {"field": "customer.country", "op": "ne", "value": "FR"}]}
SELECT
  `booking`.`booking_id`
FROM `booking` AS `booking`
LEFT JOIN `hotel` AS `hotel`
  ON `booking`.`hotel_id` = `hotel`.`hotel_id`
LEFT JOIN `customer` AS `customer`
  ON `booking`.`customer_id` = `customer`.`customer_id`
WHERE
  `hotel`.`city` = 'Paris'
  AND (
    `customer`.`country` IS NULL OR `customer`.`country` <> 'FR'
  )
