-- qg_lock_job: que-go's lock query (the qg-compatible path).
-- $1 queue text.
-- Locks the first job of queue $1 with run_at <= now(), in (priority, run_at,
-- job_id) order, whose advisory lock is free. The recursive CTE walks the
-- index one candidate at a time and stops at the first lock it gets, so it
-- never takes a lock on a row it does not return.
-- prepared by: client
WITH RECURSIVE jobs AS (
  SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
  FROM (
    SELECT j
    FROM que_jobs AS j
    WHERE queue = $1::text
    AND run_at <= now()
    ORDER BY priority, run_at, job_id
    LIMIT 1
  ) AS t1
  UNION ALL (
    SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
    FROM (
      SELECT (
        SELECT j
        FROM que_jobs AS j
        WHERE queue = $1::text
        AND run_at <= now()
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
SELECT queue, priority, run_at, job_id, job_class, args, error_count, last_error
FROM jobs
WHERE locked
LIMIT 1
