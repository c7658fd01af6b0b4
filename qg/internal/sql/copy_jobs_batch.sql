-- qg_copy_jobs_batch: qg_copy_jobs for a stream whose jobs join a batch:
-- queue, priority, run_at, job_class, args, qg_batch_id (\N: none).
COPY que_jobs (queue, priority, run_at, job_class, args, qg_batch_id)
FROM STDIN
