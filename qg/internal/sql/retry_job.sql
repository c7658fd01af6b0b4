-- qg_retry_job: makes job $1 runnable now (a job already due keeps its run_at
-- and so its place in line); a dead job (run_at 9999-01-01) also gets its
-- attempts back. The caller holds the job's advisory lock (qg_try_lock_job),
-- so no worker is running it.
-- $1 job_id bigint.
UPDATE que_jobs
SET run_at = least(run_at, now()),
    error_count = CASE WHEN run_at >= '@DEAD_RUN_AT@' THEN 0
                       ELSE error_count END
WHERE job_id = $1::bigint
