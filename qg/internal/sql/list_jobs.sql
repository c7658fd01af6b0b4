-- qg_list_jobs: one page of jobs for operators, in Que's key order (queue,
-- priority, run_at, job_id), with the pid of the session of THIS database
-- that holds each job's advisory lock (NULL: nobody; a lock on the same id in
-- another database is another job's). Keyset paging: a page starts after the
-- key of the previous page's last row (never OFFSET), so with a queue given
-- (or none) PostgreSQL walks que_jobs_pkey from the cursor and stops at the
-- LIMIT. Run it unprepared: a NULL parameter then folds its condition away
-- and the queue and cursor become index conditions. Rows come in key order
-- (the caller may sort them again: the 'end' row is not ordered).
-- Only what a listing shows is read: never args, and of last_error its first
-- line, cut at 1000 characters (last_error_line). The walk looks at no more
-- than $10 rows (the filters are checked on those); when it stopped there
-- before the page was full, a last row with kind 'end' gives the key of the
-- last row it looked at, to search on from. Other rows have kind 'job'.
-- $1 queue text (NULL: any), $2 job_class text (NULL: any),
-- $3 state text: 'any', 'ready' (due, not held), 'runnable' (due, held or
-- not), 'scheduled' (due later, not dead), 'working' (held), 'errored'
-- (error_count > 0, dead ones included), 'dead' (out of attempts),
-- $4 text that last_error contains, case-insensitively (NULL: any),
-- $5 queue, $6 priority smallint, $7 run_at timestamptz, $8 job_id bigint:
-- the cursor ($5 NULL: from the first row), $9 limit int,
-- $10 the most rows to look at, bigint (NULL: no bound).
WITH locks AS MATERIALIZED (
  SELECT (classid::bigint << 32) | objid::bigint AS job_id, pid
  @this_database_locks@
),
page AS MATERIALIZED (
  SELECT w.queue, w.priority, w.run_at, w.job_id, w.job_class,
         w.error_count,
         split_part(substr(w.last_error, 1, 1000), E'\n', 1)
           AS last_error_line,
         (SELECT min(l.pid) FROM locks AS l WHERE l.job_id = w.job_id)
           AS held_by
  FROM (
    SELECT j.queue, j.priority, j.run_at, j.job_id, j.job_class,
           j.error_count, j.last_error
    FROM que_jobs AS j
    WHERE ($1::text IS NULL OR j.queue = $1::text)
    AND   ($5::text IS NULL OR (j.queue, j.priority, j.run_at, j.job_id) >
                               ($5::text, $6::smallint, $7::timestamptz,
                                $8::bigint))
    ORDER BY j.queue, j.priority, j.run_at, j.job_id
    LIMIT $10::bigint
  ) AS w
  WHERE ($2::text IS NULL OR w.job_class = $2::text)
  AND   ($4::text IS NULL OR strpos(lower(w.last_error), lower($4::text)) > 0)
  AND   ($3::text <> 'ready' OR (w.run_at <= now() AND
                                 NOT w.job_id IN (SELECT job_id FROM locks)))
  AND   ($3::text <> 'runnable' OR w.run_at <= now())
  AND   ($3::text <> 'scheduled' OR (w.run_at > now() AND
                                     w.run_at < '@DEAD_RUN_AT@'))
  AND   ($3::text <> 'working' OR w.job_id IN (SELECT job_id FROM locks))
  AND   ($3::text <> 'errored' OR w.error_count > 0)
  AND   ($3::text <> 'dead' OR w.run_at >= '@DEAD_RUN_AT@')
  -- No ORDER BY here: the walk's order is the page's, and sorting again
  -- (the planner cannot tell that w.queue is one value) would read the
  -- whole walk before the first row.
  LIMIT $9::int
)
SELECT 'job' AS kind, queue, priority, run_at, job_id, job_class,
       error_count, last_error_line, held_by
FROM page
UNION ALL
-- The walk again, for its last row: not a CTE shared with page, which,
-- referenced twice, would be materialized whole, and the page could no
-- longer stop at its LIMIT.
SELECT 'end', e.queue, e.priority, e.run_at, e.job_id, NULL, NULL, NULL,
       NULL
FROM (
  SELECT j.queue, j.priority, j.run_at, j.job_id
  FROM que_jobs AS j
  WHERE ($1::text IS NULL OR j.queue = $1::text)
  AND   ($5::text IS NULL OR (j.queue, j.priority, j.run_at, j.job_id) >
                             ($5::text, $6::smallint, $7::timestamptz,
                              $8::bigint))
  ORDER BY j.queue, j.priority, j.run_at, j.job_id
  OFFSET $10::bigint - 1
  LIMIT 1
) AS e
WHERE $10::bigint IS NOT NULL
AND   (SELECT count(*) FROM page) < $9::int
