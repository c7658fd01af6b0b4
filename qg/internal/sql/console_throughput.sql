-- qg_console_throughput: jobs finished per minute over the last $1 minutes
-- (the current minute included), from qg_job_counts (check
-- qg_console_tables first), one row per minute, minutes without counts as
-- zeros; summed over every queue and job class, or only $2 queue text /
-- $3 job_class text when given (NULL: all). The join walks the table's
-- primary key (minute, queue, job_class) over the window.
WITH span AS (
  SELECT generate_series(date_trunc('minute', now()) -
                           make_interval(mins => $1::int - 1),
                         date_trunc('minute', now()),
                         interval '1 minute') AS minute
)
SELECT s.minute,
       coalesce(sum(c.completed), 0)::bigint AS completed,
       coalesce(sum(c.retried), 0)::bigint   AS retried,
       coalesce(sum(c.dead), 0)::bigint      AS dead,
       coalesce(sum(c.snoozed), 0)::bigint   AS snoozed,
       coalesce(sum(c.cancelled), 0)::bigint AS cancelled
FROM span AS s
LEFT JOIN qg_job_counts AS c
       ON c.minute = s.minute
      AND ($2::text IS NULL OR c.queue = $2::text)
      AND ($3::text IS NULL OR c.job_class = $3::text)
GROUP BY s.minute
ORDER BY s.minute
