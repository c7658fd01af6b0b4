-- qg_batch_list: batches newest first, those not finished only when $1
-- (along the index of open batches), at most $2; columns as qg_batch_get.
-- $1 open_only boolean, $2 limit integer.
SELECT batch_id, description, created_at, sealed_at, finished_at, total,
       completed, dead, cancelled, success_job_id, finish_job_id
FROM qg_batches
WHERE NOT $1::boolean OR finished_at IS NULL
ORDER BY batch_id DESC
LIMIT $2::integer
