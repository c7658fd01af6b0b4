-- qg_console_overview: per (queue, job_class), the counts of the web
-- console's overview, in the states `qg::JobState` names (a job may be in
-- more than one: errored counts dead ones, scheduled ones may be errored):
-- count, ready (due, not held), scheduled (due later, not dead), working
-- (advisory lock held by a session of THIS database), errored
-- (error_count > 0), dead (run_at @DEAD_RUN_AT@ and later), the highest
-- error_count, the oldest run_at, the oldest ready job's run_at and the
-- database's now() to measure its age by. One pass over que_jobs: the
-- console runs it at most once per refresh interval, however many pages
-- and scrapers ask.
WITH locks AS MATERIALIZED (
  SELECT DISTINCT (classid::bigint << 32) | objid::bigint AS job_id
  @this_database_locks@
)
SELECT j.queue,
       j.job_class,
       count(*)                                           AS count,
       count(*) FILTER (WHERE l.job_id IS NULL AND j.run_at <= now())
                                                          AS ready,
       count(*) FILTER (WHERE j.run_at > now() AND
                              j.run_at < '@DEAD_RUN_AT@') AS scheduled,
       count(l.job_id)                                    AS working,
       count(*) FILTER (WHERE j.error_count > 0)          AS errored,
       count(*) FILTER (WHERE j.run_at >= '@DEAD_RUN_AT@')
                                                          AS dead,
       max(j.error_count)                                 AS highest_error_count,
       min(j.run_at)                                      AS oldest_run_at,
       min(j.run_at) FILTER (WHERE l.job_id IS NULL AND j.run_at <= now())
                                                          AS oldest_ready_run_at,
       now()                                              AS db_now
FROM que_jobs AS j
LEFT JOIN locks AS l USING (job_id)
GROUP BY j.queue, j.job_class
ORDER BY j.queue, j.job_class
