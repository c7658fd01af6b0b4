-- qg_finish_job: qg_delete_job where the schema has job history: deletes a
-- completed job by its key (by its id when the key changed while it ran)
-- and writes its record in the same statement (fragments/history_insert.sql)
-- when its queue has history on.
-- $1 queue text, $2 priority smallint, $3 run_at timestamptz, $4 job_id
-- bigint, $5 started_ago float8 (seconds before the statement its run
-- started), $6 output text (JSON or NULL).
WITH by_key AS (
  SELECT x.ctid AS row_ctid
  FROM que_jobs AS x
  WHERE x.queue    = $1::text
  AND   x.priority = $2::smallint
  AND   x.run_at   = $3::timestamptz
  AND   x.job_id   = $4::bigint
), found AS (
  SELECT row_ctid FROM by_key
  UNION ALL
  SELECT x.ctid FROM que_jobs AS x
  WHERE x.job_id = $4::bigint AND NOT EXISTS (SELECT 1 FROM by_key)
), k AS (
  SELECT f.row_ctid, $5::float8 AS started_ago, 0::float8 AS ended_ago,
         $6::text AS output
  FROM found AS f
), gone AS (
  @completed_gone@
), hq AS MATERIALIZED (
  SELECT qg_history_queues(ARRAY(SELECT g.queue FROM gone AS g)) AS queues
), recorded AS (
  @history_insert@
)
SELECT job_id FROM gone
