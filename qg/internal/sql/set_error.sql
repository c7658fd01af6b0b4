-- qg_set_error: records a failure of a locked job: error_count, run_at =
-- now() + delay (run_at 9999-01-01 when the delay is 'Infinity': a dead job),
-- last_error. By key, or by id when the key changed while the job ran.
-- $1 error_count integer, $2 delay float8 (seconds, or 'Infinity'),
-- $3 message text, $4 queue text, $5 priority smallint,
-- $6 run_at timestamptz, $7 job_id bigint.
-- prepared by: client
WITH by_key AS (
  UPDATE que_jobs
  @set_error_columns@
  WHERE queue    = $4::text
  AND   priority = $5::smallint
  AND   run_at   = $6::timestamptz
  AND   job_id   = $7::bigint
  RETURNING job_id
)
UPDATE que_jobs
@set_error_columns@
WHERE job_id = $7::bigint
AND NOT EXISTS (SELECT 1 FROM by_key)
