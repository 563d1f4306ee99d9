-- name: ttl-expired
-- description: items of `items` whose TTL time has passed but that are still present
-- param: ttl_attribute = auto | the TTL attribute (default: from the table description)
-- param: now = now | the time to compare with (ISO 8601; default: now)
WITH cfg AS (
  SELECT coalesce(
           CASE WHEN $ttl_attribute = 'auto'
                THEN (SELECT ttl_attribute FROM snapshots WHERE "table" = $table
                      ORDER BY point_us DESC LIMIT 1)
                ELSE $ttl_attribute END,
           error('the table has no TTL attribute in its description: '
                 || 'pass --param ttl_attribute=NAME')) AS attr,
         CASE WHEN $now = 'now' THEN now() ELSE CAST($now AS TIMESTAMPTZ) END AS at_time
)
SELECT COLUMNS('^_[ps]k$'), expires_at
FROM (
  SELECT *, to_timestamp(TRY_CAST(json_extract_string(_item,
           '/' || replace(replace((SELECT attr FROM cfg), '~', '~0'), '/', '~1') || '/N')
           AS DOUBLE)) AS expires_at
  FROM items
)
WHERE expires_at < (SELECT at_time FROM cfg)
ORDER BY expires_at, 1
