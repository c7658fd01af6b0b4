-- qg_job_held: whether a session of THIS database holds job $1's advisory
-- lock (a worker runs it, or a pool locked it ahead), by pg_locks alone:
-- never reads que_jobs, so it costs the same however large the table is.
-- $1 job_id bigint.
SELECT EXISTS (
  SELECT 1
  @this_database_locks@
  AND ((classid::bigint << 32) | objid::bigint) = $1::bigint
)
