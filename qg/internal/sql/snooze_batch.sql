-- qg_snooze_batch: reschedules finished jobs `delay` seconds ahead without
-- counting a failure, by key, and returns the ids it updated; the caller
-- retries the others by id (qg_snooze_by_id).
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[],
-- $4 ids bigint[], $5 delays float8[] (seconds).
-- prepared by: locker
UPDATE que_jobs AS j
SET run_at = now() + k.delay * '1 second'::interval
FROM (
  SELECT k.delay, y.row_ctid
  FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[],
              $5::float8[])
    AS k(queue, priority, run_at, job_id, delay),
  @key_probe@
) AS k
WHERE j.ctid = k.row_ctid
RETURNING j.job_id
