-- qg_cancel_unheld: finishes job $1 as cancelled: kept like a dead job
-- (run_at far ahead, so no worker takes it) with last_error "qg: cancelled:
-- ...", error_count unchanged. The caller holds the job's advisory lock
-- (qg_try_lock_job): nobody is running it.
-- $1 job_id bigint, $2 message text.
UPDATE que_jobs
SET run_at = '@DEAD_RUN_AT@', last_error = $2::text
WHERE job_id = $1::bigint
RETURNING job_id
