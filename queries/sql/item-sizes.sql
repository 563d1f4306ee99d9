-- name: item-sizes
-- description: distribution of item sizes in `items` (canonical JSON bytes, in power-of-two buckets)
WITH sized AS (SELECT strlen(CAST(_item AS VARCHAR)) AS bytes FROM items)
SELECT CAST(pow(2, floor(log2(greatest(bytes, 1)))) AS BIGINT) AS from_bytes,
       CAST(pow(2, floor(log2(greatest(bytes, 1))) + 1) - 1 AS BIGINT) AS to_bytes,
       count(*) AS items,
       min(bytes) AS smallest, max(bytes) AS largest,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct
FROM sized
GROUP BY ALL
ORDER BY from_bytes
