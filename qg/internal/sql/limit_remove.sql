-- qg_limit_remove: removes flow-control limit $1 and its rate state; jobs
-- holding its slots keep them until they finish (nobody waits for them).
-- Returns the name when it existed.
-- $1 name text.
WITH gone AS (DELETE FROM qg_limit_rates WHERE name = $1::text)
DELETE FROM qg_limits WHERE name = $1::text
RETURNING name
