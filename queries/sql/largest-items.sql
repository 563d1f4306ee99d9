-- name: largest-items
-- description: the largest items of `items`, by canonical JSON bytes (DynamoDB's limit is 400 KB)
-- param: n = 10 | how many items
SELECT COLUMNS('^_[ps]k$'), strlen(CAST(_item AS VARCHAR)) AS bytes,
       json_array_length(json_keys(_item)) AS attributes
FROM items
ORDER BY bytes DESC, 1
LIMIT CAST($n AS BIGINT)
