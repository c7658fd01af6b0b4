-- qg_lock_walk: the fast path's lock query for a contended queue. Locks up to
-- $3 runnable jobs of queue $1 in (priority, run_at, job_id) order, skipping
-- the ids in $2 (jobs this session already holds: session advisory locks are
-- re-entrant, so they must not be taken twice). The walk takes one candidate
-- at a time and qg_lock_job() both locks and re-checks the row under a fresh
-- snapshot, releasing the lock if the row is gone; the outer LIMIT stops the
-- walk at the $3-th lock, so no lock is ever left on a row the query does not
-- return.
-- $1 queue text, $2 held bigint[], $3 want int.
WITH RECURSIVE jobs AS (
  SELECT (j).*, qg_lock_job((j).queue, (j).priority, (j).run_at, (j).job_id)
           AS locked
  FROM (
    SELECT j
    FROM que_jobs AS j
    WHERE queue = $1::text
    AND run_at <= now()
    AND job_id <> ALL($2::bigint[])
    ORDER BY priority, run_at, job_id
    LIMIT 1
  ) AS t1
  UNION ALL (
    SELECT (j).*, qg_lock_job((j).queue, (j).priority, (j).run_at, (j).job_id)
             AS locked
    FROM (
      SELECT (
        SELECT j
        FROM que_jobs AS j
        WHERE queue = $1::text
        AND run_at <= now()
        AND job_id <> ALL($2::bigint[])
        AND (priority, run_at, job_id) > (jobs.priority, jobs.run_at, jobs.job_id)
        ORDER BY priority, run_at, job_id
        LIMIT 1
      ) AS j
      FROM jobs
      WHERE jobs.job_id IS NOT NULL
      LIMIT 1
    ) AS t1
  )
)
SELECT queue, priority, run_at, job_id, job_class, args, error_count, last_error,
       true AS locked
FROM jobs
WHERE locked
LIMIT $3::int
