-- qg_error_batch: records failures by key (error_count, run_at = now() +
-- delay or the dead timestamp for 'Infinity', last_error) and returns the ids
-- it updated; the caller retries the others by id (qg_error_by_id).
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[],
-- $4 ids bigint[], $5 error counts integer[], $6 delays float8[] (seconds),
-- $7 messages text[].
-- prepared by: locker
UPDATE que_jobs AS j
@error_columns@
FROM (
  SELECT k.error_count, k.delay, k.message, y.row_ctid
  FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[],
              $5::integer[], $6::float8[], $7::text[])
    AS k(queue, priority, run_at, job_id, error_count, delay, message),
  @key_probe@
) AS k
WHERE j.ctid = k.row_ctid
RETURNING j.job_id
