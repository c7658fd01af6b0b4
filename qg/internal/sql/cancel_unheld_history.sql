-- qg_cancel_unheld_history: qg_cancel_unheld where the schema has job
-- history: a job of a queue with history on is deleted and its record
-- written (outcome 'cancelled', attempts its runs so far, no run), with the
-- last_error qg_cancel_unheld would keep; other jobs are kept as
-- qg_cancel_unheld keeps them. The caller holds the job's advisory lock.
-- $1 job_id bigint, $2 message text.
WITH found AS (
  SELECT j.ctid AS row_ctid, j.queue,
         CASE
           WHEN
           @cancelled_job@
             THEN j.last_error
           WHEN coalesce(j.last_error, '') = '' THEN $2::text
           ELSE $2::text || E'\nlast error before the cancel:\n' || j.last_error
         END AS message,
         j.run_at >= '@DEAD_RUN_AT@' AS kept_already
  FROM que_jobs AS j
  WHERE j.job_id = $1::bigint
), hq AS MATERIALIZED (
  SELECT qg_history_queues(ARRAY(SELECT f.queue FROM found AS f)) AS queues
), k AS (
  SELECT f.*, f.queue = ANY (hq.queues) AS moves
  FROM found AS f, hq
), gone AS (
  DELETE FROM que_jobs AS j
  USING k
  WHERE j.ctid = k.row_ctid AND k.moves
  RETURNING j.queue, j.priority, j.job_id, j.job_class, j.args,
            j.qg_enqueued_at, j.qg_first_started_at, j.qg_limit_key, j.qg_unique_key,
            'cancelled'::text AS h_outcome, j.error_count AS h_attempts,
            NULL::float8 AS h_started_ago, NULL::float8 AS h_ended_ago,
            k.message AS h_error, NULL::text AS h_output
), recorded AS (
  @history_insert@
), kept AS (
  UPDATE que_jobs AS j
  SET run_at = CASE WHEN k.kept_already THEN j.run_at
                    ELSE '@DEAD_RUN_AT@' END,
      last_error = k.message
  FROM k
  WHERE j.ctid = k.row_ctid AND NOT k.moves
  RETURNING j.job_id
)
SELECT job_id FROM gone
UNION ALL
SELECT job_id FROM kept
