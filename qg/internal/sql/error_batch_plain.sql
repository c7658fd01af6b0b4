-- qg_error_batch_plain: qg_error_batch for a pool that saw history off for
-- its queues: records failures by key (and the first run's start), dead
-- ones kept in que_jobs, checking in the same statement that history is
-- still off (fragments/history_off.sql); if it is on now, it writes
-- nothing and returns -1 alone (the caller then uses qg_error_batch).
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[],
-- $4 ids bigint[], $5 the distinct queues of $1 text[], $6 error counts
-- integer[], $7 delays float8[] (seconds), $8 messages text[],
-- $9 started_ago float8[] (NULL: the job did not run).
-- prepared by: locker
WITH h AS MATERIALIZED (
  @history_off@
), k AS (
  SELECT k.error_count, k.delay, k.message, k.started_ago, y.row_ctid,
         false AS moves
  FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[],
              $6::integer[], $7::float8[], $8::text[], $9::float8[])
    AS k(queue, priority, run_at, job_id, error_count, delay, message,
         started_ago),
  h,
  @key_probe@
  WHERE h.off
), kept AS (
  @error_kept@
)
SELECT job_id FROM kept
UNION ALL
SELECT -1 FROM h WHERE NOT h.off
