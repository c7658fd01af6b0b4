-- qg_unlock_batch: releases the advisory locks of ids $1; returns how many of
-- them this session did not hold.
-- $1 ids bigint[].
-- prepared by: locker
SELECT count(*) FILTER (WHERE NOT pg_advisory_unlock(id))
FROM unnest($1::bigint[]) AS id
