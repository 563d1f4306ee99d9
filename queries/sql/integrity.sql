-- name: integrity
-- description: rows whose _item does not hash to its stored sha256, per snapshot and in the change log (must be 0)
SELECT 'snapshot ' || _snapshot_id AS source, count(*) AS rows,
       count(*) FILTER (WHERE sha256(CAST(_item AS VARCHAR)) IS DISTINCT FROM _item_sha256)
         AS mismatched
FROM query_table('_snap_items__' || hex($table))
GROUP BY _snapshot_id
UNION ALL
SELECT 'change log', count(*),
       count(*) FILTER (WHERE _item IS NOT NULL
                          AND sha256(CAST(_item AS VARCHAR)) IS DISTINCT FROM _item_sha256)
FROM query_table('_change_rows__' || hex($table))
ORDER BY source
