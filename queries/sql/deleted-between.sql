-- name: deleted-between
-- description: items deleted in (t1, t2] and gone at t2, with their last image (what `restore` would write back)
-- param: t1 | start of the window, exclusive (ISO 8601, UTC when no offset)
-- param: t2 | end of the window, inclusive (ISO 8601, UTC when no offset)
-- selection: deleted_between
SELECT COLUMNS('^_[ps]k$'), _item AS last_image
FROM selected
ORDER BY 1
