-- qg_check_job: whether a locked job's row still exists, unchanged in its
-- key (another worker may have finished it between our snapshot and our lock).
-- $1 queue text, $2 priority smallint, $3 run_at timestamptz, $4 job_id bigint.
-- prepared by: client
SELECT true AS exists
FROM   que_jobs
WHERE  queue    = $1::text
AND    priority = $2::smallint
AND    run_at   = $3::timestamptz
AND    job_id   = $4::bigint
