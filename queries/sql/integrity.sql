-- name: integrity
-- description: rows whose _item does not hash to its stored hash (_item_hash: the first 8 bytes of its sha256), per snapshot and in the change log (must be 0); `unchecked` rows hold control characters that DuckDB escapes in upper case, unlike the canonical text (`ddblake verify --deep` checks them)
WITH _rows AS (
  SELECT 'snapshot ' || _snapshot_id AS source, CAST(_item AS VARCHAR) AS _text, _item_hash
  FROM query_table('_snap_items__' || hex($table))
),
_changes AS (
  SELECT 'change log' AS source, CAST(_item AS VARCHAR) AS _text, _item_hash
  FROM query_table('_change_rows__' || hex($table))
),
_checked AS (
  SELECT source, _text, _item_hash, sha256(_text) AS _sha,
         coalesce(regexp_matches(_text, '\\u00(0[BEF]|1[A-F])'), false) AS _odd
  FROM (SELECT * FROM _rows UNION ALL SELECT * FROM _changes)
),
_verdict AS (
  SELECT source, _odd, _text IS NOT NULL AND NOT _odd
         AND CAST(CAST(CAST('0x' || left(_sha, 16) AS UBIGINT) AS HUGEINT)
                  - CASE WHEN left(_sha, 1) >= '8' THEN CAST(18446744073709551616 AS HUGEINT)
                         ELSE 0 END AS BIGINT) IS DISTINCT FROM _item_hash AS _bad
  FROM _checked
)
SELECT source, count(*) AS rows, count(*) FILTER (WHERE _bad) AS mismatched,
       count(*) FILTER (WHERE _odd) AS unchecked
FROM _verdict GROUP BY source
UNION ALL
SELECT 'change log', 0, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM _changes)
ORDER BY source
