-- qg_retry_job: makes job $1 runnable now (a job already due keeps its run_at
-- and so its place in line); a dead job (run_at 9999-01-01) also gets its
-- attempts back, and so does a job an operator cancelled (kept like a dead
-- one). Returns one row, what the job was before (was_dead, was_cancelled),
-- or none when there is no such job. The caller holds the job's advisory
-- lock (qg_try_lock_job), so no worker is running it. A job waiting for
-- its parents (run_at 9000-01-01, qg/workflow.h) is not retried: none.
-- $1 job_id bigint.
WITH old AS (
  SELECT j.queue, j.priority, j.run_at, j.job_id,
         j.run_at >= '@DEAD_RUN_AT@' AS was_dead,
         @cancelled_job@
           AS was_cancelled
  FROM que_jobs AS j
  WHERE j.job_id = $1::bigint
  AND j.run_at <> '9000-01-01'  -- a child waiting for its parents stays
)
UPDATE que_jobs AS j
SET run_at      = least(j.run_at, now()),
    error_count = CASE WHEN old.was_dead THEN 0 ELSE j.error_count END
FROM old
WHERE j.queue = old.queue
AND   j.priority = old.priority
AND   j.run_at = old.run_at
AND   j.job_id = old.job_id
RETURNING old.was_dead, old.was_cancelled
