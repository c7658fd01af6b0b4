-- qg_batch_get: batch $1's progress (no row: no such batch); total counts
-- the jobs added while it is open too (qg_batch_adds).
-- $1 batch_id bigint.
SELECT b.batch_id, b.description, b.created_at, b.sealed_at, b.finished_at,
       b.total + coalesce((SELECT sum(a.added) FROM qg_batch_adds AS a
                           WHERE a.batch_id = b.batch_id), 0) AS total,
       b.completed, b.dead, b.cancelled, b.success_job_id, b.finish_job_id
FROM qg_batches AS b
WHERE b.batch_id = $1::bigint
