-- qg_limit_ensure: creates flow-control limit $1 as given unless a limit of
-- that name exists (the database's definition wins: an operator's change
-- outlives the code's default). Returns the name when it created it.
-- $1 name text, $2 queue text, $3 job_class text, $4 key_by text,
-- $5 key_args text[], $6 concurrency int, $7 per_pool boolean,
-- $8 rate int, $9 rate_period interval, $10 rate_burst int.
INSERT INTO qg_limits (name, queue, job_class, key_by, key_args, concurrency,
                       per_pool, rate, rate_period, rate_burst, slots_high)
SELECT $1::text, $2::text, $3::text, $4::text, $5::text[], $6::int,
       $7::boolean, $8::int, $9::interval, $10::int, coalesce($6::int, 0)
-- First the change-wanted flag, then the hand-off lock: pools that hand
-- slots on under the limits they read hold it shared, see the flag in
-- their next round trip (at most about 100 ms apart while they hold it)
-- and let go of it in the one after; then the change lock.
FROM (SELECT pg_advisory_xact_lock(1902603373, 0)
      FROM (SELECT pg_advisory_xact_lock(1902603373, 1)
            FROM (SELECT pg_advisory_xact_lock(1902603373, 2) OFFSET 0)
                 AS flag
            OFFSET 0) AS h)
     AS change_lock
ON CONFLICT (name) DO NOTHING
RETURNING name
