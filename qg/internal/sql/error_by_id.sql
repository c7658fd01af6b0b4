-- qg_error_by_id: qg_error_batch for jobs whose key changed while they ran
-- (rare: a full scan).
-- $1 ids bigint[], $2 error counts integer[], $3 delays float8[],
-- $4 messages text[], $5 started_ago float8[], $6 ended_ago float8[].
-- prepared by: locker
WITH found AS (
  SELECT k.*, x.ctid AS row_ctid, x.queue
  FROM unnest($1::bigint[], $2::integer[], $3::float8[], $4::text[],
              $5::float8[], $6::float8[])
    AS k(job_id, error_count, delay, message, started_ago, ended_ago)
  JOIN que_jobs AS x ON x.job_id = k.job_id
  WHERE x.job_id = ANY ($1::bigint[])  -- one scan of que_jobs, not one per id
), hq AS MATERIALIZED (
  SELECT qg_history_queues(ARRAY(SELECT f.queue FROM found AS f)) AS queues
), k AS (
  SELECT f.*,
         f.delay = 'Infinity'::float8 AND f.queue = ANY (hq.queues) AS moves
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
