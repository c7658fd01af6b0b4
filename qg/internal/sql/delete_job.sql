-- qg_delete_job: deletes a finished job by its key; when its key changed
-- while it ran (someone moved run_at or priority), by its id, so that a
-- finished job never survives to run again.
-- $1 queue text, $2 priority smallint, $3 run_at timestamptz, $4 job_id bigint.
-- prepared by: client
WITH by_key AS (
  DELETE FROM que_jobs
  WHERE queue    = $1::text
  AND   priority = $2::smallint
  AND   run_at   = $3::timestamptz
  AND   job_id   = $4::bigint
  RETURNING job_id
)
DELETE FROM que_jobs
WHERE job_id = $4::bigint
AND NOT EXISTS (SELECT 1 FROM by_key)
