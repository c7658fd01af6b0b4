-- qg_finish_batch: deletes completed jobs by key, writes their history
-- records (fragments/history_insert.sql) in the same statement, and returns
-- the ids it deleted; an id it did not return had its key changed while it
-- ran (the caller then uses qg_finish_by_id) or was deleted by someone else.
-- Returns -2 as well when history is off for every queue of the batch:
-- the caller may use qg_finish_batch_plain next.
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[],
-- $4 ids bigint[], $5 started_ago float8[], $6 ended_ago float8[] (seconds
-- before the statement the run started and ended), $7 outputs text[] (JSON
-- or NULL) (parallel arrays), $8 the distinct queues of $1, text[].
-- prepared by: locker
WITH k AS (
  SELECT y.row_ctid, k.started_ago, k.ended_ago, k.output
  FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[],
              $5::float8[], $6::float8[], $7::text[])
    AS k(queue, priority, run_at, job_id, started_ago, ended_ago, output),
  @key_probe@
), gone AS (
  @completed_gone@
), hq AS MATERIALIZED (
  SELECT ARRAY(
    SELECT q.queue FROM unnest($8::text[]) AS q(queue)
    WHERE coalesce((SELECT x.history FROM qg_queues AS x
                    WHERE x.queue = q.queue),
                   (SELECT s.all_queues FROM qg_history_settings AS s
                    WHERE s.singleton = true),
                   false)) AS queues
), recorded AS (
  @history_insert@
)
SELECT job_id FROM gone
UNION ALL
SELECT -2 FROM hq WHERE cardinality(hq.queues) = 0
