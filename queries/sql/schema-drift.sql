-- name: schema-drift
-- description: attributes whose types or presence differ between two snapshots of the table
-- param: a = previous | the older snapshot id (default: the one before the latest)
-- param: b = latest | the newer snapshot id (default: the latest)
WITH ordered AS (
  SELECT snapshot_id, row_number() OVER (ORDER BY point_us DESC, snapshot_id DESC) AS age
  FROM snapshots WHERE "table" = $table
),
ids AS (
  SELECT CASE WHEN $a = 'previous' THEN (SELECT snapshot_id FROM ordered WHERE age = 2)
              ELSE $a END AS a,
         CASE WHEN $b = 'latest' THEN (SELECT snapshot_id FROM ordered WHERE age = 1)
              ELSE $b END AS b
),
snap AS (
  SELECT CASE WHEN _snapshot_id = (SELECT a FROM ids) THEN 'a' ELSE 'b' END AS side, _item
  FROM query_table('_snap_items__' || $table)
  WHERE _snapshot_id IN ((SELECT a FROM ids), (SELECT b FROM ids))
),
profile AS (
  SELECT side, e.key AS attribute,
         string_agg(DISTINCT json_keys(e.value)[1], ',' ORDER BY json_keys(e.value)[1]) AS types,
         count(*) AS present
  FROM snap, json_each(snap._item) AS e
  GROUP BY side, attribute
)
SELECT coalesce(a.attribute, b.attribute) AS attribute,
       a.types AS types_a, b.types AS types_b,
       coalesce(a.present, 0) AS present_a, coalesce(b.present, 0) AS present_b,
       CASE WHEN a.attribute IS NULL THEN 'added'
            WHEN b.attribute IS NULL THEN 'removed'
            ELSE 'types changed' END AS drift,
       (SELECT a FROM ids) AS snapshot_a, (SELECT b FROM ids) AS snapshot_b
FROM (SELECT * FROM profile WHERE side = 'a') a
FULL OUTER JOIN (SELECT * FROM profile WHERE side = 'b') b ON a.attribute = b.attribute
WHERE a.types IS DISTINCT FROM b.types
ORDER BY attribute
