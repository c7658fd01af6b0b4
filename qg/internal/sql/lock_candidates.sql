-- qg_lock_candidates: the fast path's lock query for an uncontended queue:
-- the first $3 candidates of queue $1 (skipping the ids in $2, which this
-- session holds already) in one index scan, each passed to qg_lock_job().
-- Every candidate is returned with `locked`, so nothing is locked that the
-- caller does not see, whatever the plan (the LIMIT sits below the volatile
-- call and PostgreSQL never pushes a volatile expression under a LIMIT). The
-- number of rows tells whether the queue may hold more; unlocked rows (held
-- by another worker) make the caller switch to qg_lock_walk.
-- $1 queue text, $2 held bigint[], $3 want int.
SELECT queue, priority, run_at, job_id, job_class, args, error_count,
       last_error, qg_lock_job(queue, priority, run_at, job_id) AS locked
FROM (
  SELECT queue, priority, run_at, job_id, job_class, args, error_count,
         last_error
  FROM que_jobs
  WHERE queue = $1::text
  AND run_at <= now()
  AND job_id <> ALL($2::bigint[])
  ORDER BY priority, run_at, job_id
  LIMIT $3::int
) AS candidates
