-- qg_delete_by_id: deletes finished jobs whose key changed while they ran
-- (rare: a full scan, since Que's table has no index on job_id alone).
-- $1 ids bigint[].
DELETE FROM que_jobs
WHERE job_id = ANY($1::bigint[])
RETURNING job_id
