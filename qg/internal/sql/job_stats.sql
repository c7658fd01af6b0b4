-- qg_job_stats: per (queue, job_class): count, working (advisory lock held in
-- this database), errored, highest error_count, oldest run_at, dead (run_at
-- 9999-01-01 and later: out of attempts).
SELECT queue,
       job_class,
       count(*)                          AS count,
       count(locks.job_id)               AS count_working,
       sum((error_count > 0)::int)       AS count_errored,
       max(error_count)                  AS highest_error_count,
       min(run_at)                       AS oldest_run_at,
       count(*) FILTER (WHERE run_at >= '@DEAD_RUN_AT@')
                                         AS count_dead
FROM que_jobs
LEFT JOIN (
  SELECT (classid::bigint << 32) + objid::bigint AS job_id
  FROM pg_locks
  WHERE locktype = 'advisory'
  AND   objsubid = 1
  AND   database = (SELECT oid FROM pg_database
                    WHERE datname = current_database())
) locks USING (job_id)
GROUP BY queue, job_class
ORDER BY queue, job_class
