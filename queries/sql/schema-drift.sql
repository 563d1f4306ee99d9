-- name: schema-drift
-- description: attributes added, removed or whose DynamoDB types differ between two snapshots of the table
-- param: a = previous | the older snapshot id (default: the one before the latest)
-- param: b = latest | the newer snapshot id (default: the latest)
-- snapshot-params: a, b
WITH ids AS (SELECT $a AS a, $b AS b),
side_a AS (
  SELECT e.key AS attribute,
         string_agg(DISTINCT json_keys(e.value)[1], ',' ORDER BY json_keys(e.value)[1]) AS types,
         count(*) AS present
  FROM query_table('_snap_items__' || hex($table)) AS s, json_each(s._item) AS e
  WHERE s._snapshot_id = (SELECT a FROM ids)
  GROUP BY attribute
),
side_b AS (
  SELECT e.key AS attribute,
         string_agg(DISTINCT json_keys(e.value)[1], ',' ORDER BY json_keys(e.value)[1]) AS types,
         count(*) AS present
  FROM query_table('_snap_items__' || hex($table)) AS s, json_each(s._item) AS e
  WHERE s._snapshot_id = (SELECT b FROM ids)
  GROUP BY attribute
)
SELECT coalesce(a.attribute, b.attribute) AS attribute,
       a.types AS types_a, b.types AS types_b,
       coalesce(a.present, 0) AS present_a, coalesce(b.present, 0) AS present_b,
       CASE WHEN a.attribute IS NULL THEN 'added'
            WHEN b.attribute IS NULL THEN 'removed'
            ELSE 'types changed' END AS drift,
       (SELECT a FROM ids) AS snapshot_a, (SELECT b FROM ids) AS snapshot_b
FROM side_a AS a FULL OUTER JOIN side_b AS b ON a.attribute = b.attribute
WHERE a.types IS DISTINCT FROM b.types
ORDER BY attribute
