-- qg_error_batch: records failures by key (error_count, run_at = now() +
-- delay or the dead timestamp for 'Infinity', last_error, the first run's
-- start) and returns the ids it wrote; the caller retries the others by id
-- (qg_error_by_id). A dead or cancelled job (delay 'Infinity') of a queue
-- with history on is deleted instead and its record written, in this
-- statement. Returns -2 as well when history is off for every queue of the
-- batch: the caller may use qg_error_batch_plain next.
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[],
-- $4 ids bigint[], $5 error counts integer[], $6 delays float8[] (seconds),
-- $7 messages text[], $8 started_ago float8[], $9 ended_ago float8[]
-- (seconds before the statement the run started and ended; NULL: the job
-- did not run), $10 the distinct queues of $1, text[].
-- prepared by: locker
WITH hq AS MATERIALIZED (
  SELECT ARRAY(
    SELECT q.queue FROM unnest($10::text[]) AS q(queue)
    WHERE coalesce((SELECT x.history FROM qg_queues AS x
                    WHERE x.queue = q.queue),
                   (SELECT s.all_queues FROM qg_history_settings AS s
                    WHERE s.singleton = true),
                   false)) AS queues
), k AS (
  SELECT k.error_count, k.delay, k.message, k.started_ago, k.ended_ago,
         y.row_ctid,
         k.delay = 'Infinity'::float8 AND k.queue = ANY (hq.queues) AS moves
  FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[],
              $5::integer[], $6::float8[], $7::text[], $8::float8[],
              $9::float8[])
    AS k(queue, priority, run_at, job_id, error_count, delay, message,
         started_ago, ended_ago),
  hq,
  @key_probe@
), gone AS (
  @error_gone@
), recorded AS (
  @history_insert@
), kept AS (
  @error_kept@
)
SELECT job_id FROM gone
UNION ALL
SELECT job_id FROM kept
UNION ALL
SELECT -2 FROM hq WHERE cardinality(hq.queues) = 0
