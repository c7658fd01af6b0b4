-- qg_list_jobs: one page of jobs for operators, in Que's key order (queue,
-- priority, run_at, job_id), with the pid of the session of THIS database
-- that holds each job's advisory lock (NULL: nobody; a lock on the same id in
-- another database is another job's). Keyset paging: a page starts after the
-- key of the previous page's last row (never OFFSET), so with a queue given
-- (or none) PostgreSQL walks que_jobs_pkey from the cursor and stops at the
-- LIMIT. Run it unprepared: a NULL parameter then folds its condition away
-- and the queue and cursor become index conditions.
-- $1 queue text (NULL: any), $2 job_class text (NULL: any),
-- $3 state text: 'any', 'ready' (due, not held), 'runnable' (due, held or
-- not), 'scheduled' (due later, not dead), 'working' (held), 'errored'
-- (error_count > 0, dead ones included), 'dead' (out of attempts),
-- $4 text that last_error contains, case-insensitively (NULL: any),
-- $5 queue, $6 priority smallint, $7 run_at timestamptz, $8 job_id bigint:
-- the cursor ($5 NULL: from the first row), $9 limit int.
WITH locks AS MATERIALIZED (
  SELECT (classid::bigint << 32) | objid::bigint AS job_id, pid
  @this_database_locks@
)
SELECT j.queue, j.priority, j.run_at, j.job_id, j.job_class, j.args,
       j.error_count, j.last_error,
       (SELECT min(l.pid) FROM locks AS l WHERE l.job_id = j.job_id) AS held_by
FROM que_jobs AS j
WHERE ($1::text IS NULL OR j.queue = $1::text)
AND   ($2::text IS NULL OR j.job_class = $2::text)
AND   ($4::text IS NULL OR strpos(lower(j.last_error), lower($4::text)) > 0)
AND   ($5::text IS NULL OR (j.queue, j.priority, j.run_at, j.job_id) >
                           ($5::text, $6::smallint, $7::timestamptz, $8::bigint))
AND   ($3::text <> 'ready' OR (j.run_at <= now() AND
                               NOT j.job_id IN (SELECT job_id FROM locks)))
AND   ($3::text <> 'runnable' OR j.run_at <= now())
AND   ($3::text <> 'scheduled' OR (j.run_at > now() AND
                                   j.run_at < '@DEAD_RUN_AT@'))
AND   ($3::text <> 'working' OR j.job_id IN (SELECT job_id FROM locks))
AND   ($3::text <> 'errored' OR j.error_count > 0)
AND   ($3::text <> 'dead' OR j.run_at >= '@DEAD_RUN_AT@')
ORDER BY j.queue, j.priority, j.run_at, j.job_id
LIMIT $9::int
