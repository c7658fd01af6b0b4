-- qg_history_revive: brings a dead or cancelled job back from its history
-- record: the row is inserted into que_jobs again (same id, type, queue,
-- priority, args, enqueue time, limit key and unique key; run_at now(),
-- error_count 0, its last_error kept) and the record deleted, in one
-- statement. A unique job whose key another job holds now fails with the
-- unique violation (23505) and stays a record. Returns
-- what the record said it was (outcome), or no row when job $1 has no such
-- record (a completed job stays finished).
-- $1 job_id bigint.
WITH rec AS (
  DELETE FROM qg_job_history AS h
  WHERE h.job_id = $1::bigint AND h.outcome IN ('dead', 'cancelled')
  RETURNING h.*
), revived AS (
  INSERT INTO que_jobs (queue, priority, run_at, job_id, job_class, args,
                        error_count, last_error, qg_enqueued_at,
                        qg_first_started_at, qg_limit_key, qg_unique_key)
  SELECT r.queue, r.priority, now(), r.job_id, r.job_class, r.args, 0,
         r.last_error, r.enqueued_at, r.first_started_at, r.limit_key,
         r.unique_key
  FROM rec AS r
  RETURNING job_id
)
SELECT r.outcome FROM rec AS r JOIN revived AS v ON v.job_id = r.job_id
