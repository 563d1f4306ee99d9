-- name: hot-partition-keys
-- description: partition keys with the most items (and bytes) in `items`, and the most writes in the change log
-- param: n = 10 | how many keys
WITH i AS (
  SELECT _pk, count(*) AS items, CAST(sum(strlen(CAST(_item AS VARCHAR))) AS BIGINT) AS bytes
  FROM items GROUP BY _pk
),
w AS (SELECT _pk, count(*) AS writes FROM changes GROUP BY _pk)
SELECT coalesce(i._pk, w._pk) AS _pk, coalesce(i.items, 0) AS items,
       coalesce(i.bytes, 0) AS bytes, coalesce(w.writes, 0) AS writes_logged
FROM i FULL OUTER JOIN w ON i._pk = w._pk
ORDER BY items DESC, writes_logged DESC, 1
LIMIT CAST($n AS BIGINT)
