-- qg_set_error_history: qg_set_error where the schema has job history: also
-- keeps the start of the job's first run, and a dead or cancelled job
-- (delay 'Infinity') of a queue with history on is deleted and its record
-- written instead (fragments/error_gone.sql). By key, or by id when the
-- key changed while the job ran.
-- $1 error_count integer, $2 delay float8 (seconds, or 'Infinity'),
-- $3 message text, $4 queue text, $5 priority smallint,
-- $6 run_at timestamptz, $7 job_id bigint, $8 started_ago float8 (NULL:
-- it did not run).
WITH by_key AS (
  SELECT x.ctid AS row_ctid, x.queue
  FROM que_jobs AS x
  WHERE x.queue    = $4::text
  AND   x.priority = $5::smallint
  AND   x.run_at   = $6::timestamptz
  AND   x.job_id   = $7::bigint
), found AS (
  SELECT row_ctid, queue FROM by_key
  UNION ALL
  SELECT x.ctid, x.queue FROM que_jobs AS x
  WHERE x.job_id = $7::bigint AND NOT EXISTS (SELECT 1 FROM by_key)
), hq AS MATERIALIZED (
  SELECT qg_history_queues(ARRAY(SELECT f.queue FROM found AS f)) AS queues
), k AS (
  SELECT f.row_ctid, $1::integer AS error_count, $2::float8 AS delay,
         $3::text AS message, $8::float8 AS started_ago,
         CASE WHEN $8::float8 IS NOT NULL THEN 0::float8 END AS ended_ago,
         $2::float8 = 'Infinity'::float8
         AND f.queue = ANY (hq.queues) AS moves
  FROM found AS f, hq
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
