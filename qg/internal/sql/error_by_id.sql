-- qg_error_by_id: qg_error_batch for jobs whose key changed while they ran
-- (rare: a full scan).
-- $1 ids bigint[], $2 error counts integer[], $3 delays float8[],
-- $4 messages text[].
-- prepared by: locker
UPDATE que_jobs AS j
@error_columns@
FROM unnest($1::bigint[], $2::integer[], $3::float8[], $4::text[])
  AS k(job_id, error_count, delay, message)
WHERE j.job_id = k.job_id
RETURNING j.job_id
