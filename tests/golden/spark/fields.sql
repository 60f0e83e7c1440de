-- customer: {"all": [{"field": "country", "op": "in", "value": ["FR", "BE"]}, {"not": {"field": "tier", "op": "eq", "value": "basic"}}, {"field": "birth_date", "op": "lt", "value": {"ago": "18y"}}]}
SELECT
  `customer`.`customer_id`
FROM `customer` AS `customer`
WHERE
  `customer`.`country` IN ('FR', 'BE')
  AND (
    `customer`.`tier` IS NULL OR `customer`.`tier` <> 'basic'
  )
  AND `customer`.`birth_date` < CAST('2008-03-01' AS DATE)
