-- name: changed-between
-- description: items modified or deleted in (t1, t2], as they were at t1
-- param: t1 | start of the window, exclusive (ISO 8601, UTC when no offset)
-- param: t2 | end of the window, inclusive (ISO 8601, UTC when no offset)
-- selection: changed_between
SELECT COLUMNS('^_[ps]k$'), _item AS image_at_t1
FROM selected
ORDER BY 1
