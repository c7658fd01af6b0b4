-- qg_limit_list: every flow-control limit with its use now: `running`, the
-- jobs it applies to whose lock a worker holds (running, or locked ahead
-- by a pool: with a slot, or waiting for a hand-off of one, so under a
-- queue-wide limit it can show more than the limit; slots count only
-- through their jobs); `busiest`, the most of them in one
-- bucket; `buckets`, the buckets with a held job; `waiting`, runnable jobs
-- it applies to that nobody holds (looked at up to $1 jobs per limit, so a
-- huge queue costs a bounded read; `waiting_capped` says the count stopped
-- there). Reads only (qg_limit_prune prunes, where the role may).
-- $1 max_scan int.
WITH held AS (
  SELECT (classid::bigint << 32) | objid::bigint AS id
  @this_database_locks@
)
SELECT m.name, m.queue, m.job_class, m.key_by,
       -- Field names hold no control characters: one separates them.
       array_to_string(m.key_args, E'\x1f') AS key_args, m.concurrency,
       m.per_pool, m.rate, extract(epoch FROM m.rate_period) AS rate_period,
       m.rate_burst, m.slots_high, m.updated_at,
       coalesce(u.running, 0) AS running, coalesce(u.busiest, 0) AS busiest,
       coalesce(u.buckets, 0) AS buckets,
       w.waiting, w.waiting >= $1::int AS waiting_capped
FROM qg_limits AS m
LEFT JOIN LATERAL (
  SELECT sum(n) AS running, max(n) AS busiest, count(*) AS buckets
  FROM (SELECT qg_limit_bucket(m, j.job_class, j.args, j.qg_limit_key) AS b,
               count(*) AS n
        FROM que_jobs AS j
        WHERE j.job_id IN (SELECT id FROM held)
        AND (m.queue IS NULL OR j.queue = m.queue)
        GROUP BY 1) AS g
  WHERE b IS NOT NULL
) AS u ON true
LEFT JOIN LATERAL (
  SELECT count(*) AS waiting
  FROM (SELECT 1 FROM que_jobs AS j
        WHERE (m.queue IS NULL OR j.queue = m.queue)
        AND j.run_at <= now()
        AND qg_limit_bucket(m, j.job_class, j.args, j.qg_limit_key) IS NOT NULL
        AND j.job_id NOT IN (SELECT id FROM held)
        LIMIT $1::int) AS c
) AS w ON true
ORDER BY m.name
