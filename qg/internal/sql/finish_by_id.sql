-- qg_finish_by_id: qg_finish_batch for jobs whose key changed while they
-- ran (rare: a full scan, since Que's table has no index on job_id alone).
-- $1 ids bigint[], $2 started_ago float8[], $3 ended_ago float8[],
-- $4 outputs text[] (parallel arrays).
-- prepared by: locker
WITH k AS (
  SELECT k.*, x.ctid AS row_ctid
  FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::text[])
    AS k(job_id, started_ago, ended_ago, output)
  JOIN que_jobs AS x ON x.job_id = k.job_id
  WHERE x.job_id = ANY ($1::bigint[])  -- one scan of que_jobs, not one per id
), gone AS (
  @completed_gone@
), hq AS MATERIALIZED (
  SELECT qg_history_queues(ARRAY(SELECT g.queue FROM gone AS g)) AS queues
), recorded AS (
  @history_insert@
)
SELECT job_id FROM gone
