-- qg_copy_jobs: the COPY that EnqueueStream feeds, rows in text format:
-- queue, priority, run_at, job_class, args.
COPY que_jobs (queue, priority, run_at, job_class, args) FROM STDIN
