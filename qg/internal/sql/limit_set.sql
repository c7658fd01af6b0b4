-- qg_limit_set: creates or replaces flow-control limit $1 (qg_limits).
-- A lowered concurrency keeps the highest it had in slots_high, so that new
-- starts wait until the slots above the new limit are free; nothing else of
-- the row is kept. Returns the row's name.
-- $1 name text, $2 queue text, $3 job_class text, $4 key_by text,
-- $5 key_args text[], $6 concurrency int, $7 per_pool boolean,
-- $8 rate int, $9 rate_period interval, $10 rate_burst int.
INSERT INTO qg_limits AS l (name, queue, job_class, key_by, key_args,
                            concurrency, per_pool, rate, rate_period,
                            rate_burst, slots_high, updated_at)
-- The change waits for lock scans under way (they hold the same lock
-- shared while they admit jobs), and later scans wait for it to commit.
SELECT $1::text, $2::text, $3::text, $4::text, $5::text[], $6::int,
       $7::boolean, $8::int, $9::interval, $10::int, coalesce($6::int, 0),
       now()
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
ON CONFLICT (name) DO UPDATE SET
  queue = excluded.queue, job_class = excluded.job_class,
  key_by = excluded.key_by, key_args = excluded.key_args,
  concurrency = excluded.concurrency, per_pool = excluded.per_pool,
  rate = excluded.rate, rate_period = excluded.rate_period,
  rate_burst = excluded.rate_burst,
  -- The slots a running job may hold stay guarded while the buckets and
  -- scope are the same; another bucket or scope starts afresh.
  slots_high = CASE
    WHEN l.key_by = excluded.key_by AND l.key_args = excluded.key_args
         AND l.per_pool = excluded.per_pool
    THEN greatest(l.slots_high, coalesce(l.concurrency, 0),
                  coalesce(excluded.concurrency, 0))
    ELSE coalesce(excluded.concurrency, 0) END,
  updated_at = now()
RETURNING name
