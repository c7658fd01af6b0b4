-- qg_batch_get: batch $1's progress (no row: no such batch).
-- $1 batch_id bigint.
SELECT batch_id, description, created_at, sealed_at, finished_at, total,
       completed, dead, cancelled, success_job_id, finish_job_id
FROM qg_batches
WHERE batch_id = $1::bigint
