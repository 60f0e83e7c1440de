-- customer: {"any": [{"field": "name", "op": "contains", "value": "50%_off"}, {"field": "name", "op": "like", "value": "O\\'%"}, {"not": {"field": "name", "op": "starts_with", "value": "it's"}}]}
SELECT
  `customer`.`customer_id`
FROM `customer` AS `customer`
WHERE
  CONTAINS(`customer`.`name`, '50%_off')
  OR `customer`.`name` LIKE 'O\\\\\'%'
  OR `customer`.`name` IS NULL
  OR NOT STARTSWITH(`customer`.`name`, 'it\'s')
