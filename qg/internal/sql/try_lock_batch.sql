-- qg_try_lock_batch: takes the advisory locks of those ids in $1 that nobody
-- holds and returns them; the others are held by a worker (running, or locked
-- ahead by a fast pool). An operator's bulk change (retry, delete) then
-- touches only the returned ones and unlocks them (qg_unlock_batch) after the
-- change commits.
-- $1 ids bigint[].
SELECT id
FROM unnest($1::bigint[]) AS id
WHERE pg_try_advisory_lock(id)
