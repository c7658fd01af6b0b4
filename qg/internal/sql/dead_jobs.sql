-- qg_dead_jobs: jobs out of attempts (run_at 9999-01-01 and later), oldest
-- id first.
-- $1 limit int.
SELECT queue, priority, run_at, job_id, job_class, args, error_count, last_error
FROM que_jobs
WHERE run_at >= '@DEAD_RUN_AT@'
ORDER BY job_id
LIMIT $1::int
