-- name: attribute-profile
-- description: per top-level attribute of `items`: DynamoDB types seen, presence and NULLs
WITH total AS (SELECT count(*) AS n FROM items),
attrs AS (
  SELECT e.key AS attribute, json_keys(e.value)[1] AS dynamo_type
  FROM items, json_each(items._item) AS e
)
SELECT attribute,
       string_agg(DISTINCT dynamo_type, ',' ORDER BY dynamo_type) AS types,
       count(*) AS present,
       (SELECT n FROM total) - count(*) AS absent,
       round(100.0 * count(*) / (SELECT n FROM total), 2) AS presence_pct,
       count(*) FILTER (WHERE dynamo_type = 'NULL') AS nulls
FROM attrs
GROUP BY attribute
ORDER BY attribute
