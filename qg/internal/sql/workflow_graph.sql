-- qg_workflow_graph: the workflow around job $1: every job linked to it by
-- edges (qg_job_deps, either way), at most $2 + 1 of them (one more than
-- asked: the caller knows it cut the graph), each with its type,
-- queue and state, then every edge among them. Rows: kind 'node' (id,
-- job_class, queue, state: waiting_for_parents, ready, scheduled, running,
-- dead, cancelled, completed (or its record's outcome), unknown) or kind
-- 'edge' (parent_id in id, child_id, edge state: NULL, completed, failed).
-- $1 job_id bigint, $2 max_nodes integer.
WITH RECURSIVE reach(id) AS (
  SELECT $1::bigint
  UNION
  SELECT CASE WHEN d.parent_id = r.id THEN d.child_id ELSE d.parent_id END
  FROM reach AS r
  JOIN qg_job_deps AS d ON d.parent_id = r.id OR d.child_id = r.id
), nodes AS MATERIALIZED (
  SELECT id FROM reach LIMIT $2::integer + 1
), held AS (
  SELECT objid::bigint AS id
  @this_database_locks@
)
SELECT 'node' AS kind, n.id, coalesce(j.job_class, h.job_class) AS job_class,
       coalesce(j.queue, h.queue) AS queue,
       CASE
         WHEN j.job_id IS NULL THEN coalesce(h.outcome, 'unknown')
         WHEN j.run_at = '9000-01-01' THEN 'waiting_for_parents'
         WHEN j.run_at >= '@DEAD_RUN_AT@'
           AND coalesce(j.last_error LIKE 'qg: cancelled%', false)
           THEN 'cancelled'
         WHEN j.run_at >= '@DEAD_RUN_AT@' THEN 'dead'
         WHEN EXISTS (SELECT 1 FROM held WHERE held.id = n.id) THEN 'running'
         WHEN j.run_at > now() THEN 'scheduled'
         ELSE 'ready'
       END AS state,
       NULL::bigint AS child_id
FROM nodes AS n
LEFT JOIN que_jobs AS j ON j.job_id = n.id
LEFT JOIN qg_job_history AS h ON h.job_id = n.id
UNION ALL
SELECT 'edge', d.parent_id, NULL, NULL, d.state, d.child_id
FROM qg_job_deps AS d
WHERE d.parent_id IN (SELECT id FROM nodes)
AND d.child_id IN (SELECT id FROM nodes)
