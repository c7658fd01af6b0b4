-- qg_batch_list: batches newest first, those not finished only when $1
-- (along the index of open batches), at most $2; columns as qg_batch_get.
-- $1 open_only boolean, $2 limit integer.
SELECT b.batch_id, b.description, b.created_at, b.sealed_at, b.finished_at,
       b.total + coalesce((SELECT sum(a.added) FROM qg_batch_adds AS a
                           WHERE a.batch_id = b.batch_id), 0) AS total,
       b.completed, b.dead, b.cancelled, b.success_job_id, b.finish_job_id
FROM qg_batches AS b
WHERE NOT $1::boolean OR b.finished_at IS NULL
ORDER BY b.batch_id DESC
LIMIT $2::integer
