-- qg_snooze_job: reschedules a locked job `delay` seconds ahead without
-- counting a failure (error_count and last_error stay). By key, or by id
-- when the key changed while the job ran.
-- $1 delay float8 (seconds), $2 queue text, $3 priority smallint,
-- $4 run_at timestamptz, $5 job_id bigint.
WITH by_key AS (
  UPDATE que_jobs
  SET run_at = now() + $1::float8 * '1 second'::interval
  WHERE queue    = $2::text
  AND   priority = $3::smallint
  AND   run_at   = $4::timestamptz
  AND   job_id   = $5::bigint
  RETURNING job_id
)
UPDATE que_jobs
SET run_at = now() + $1::float8 * '1 second'::interval
WHERE job_id = $5::bigint
AND NOT EXISTS (SELECT 1 FROM by_key)
