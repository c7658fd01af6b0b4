-- qg_lock_jobs: the fast path's lock (qg_lock_jobs() in
-- schema/qg_additions.sql): up to $2 runnable jobs of queue $1 in
-- (priority, run_at, job_id) order, after the key ($5, $6, $7) or from the
-- head when $5 is NULL, skipping the ids in $3, looking at no more than $4
-- candidates; each locked and re-checked; then a summary row (locked =
-- false: scanned, exhausted, the last key looked at, and paused: the queue
-- is paused, nothing was locked).
-- $1 queue text, $2 want int, $3 held bigint[], $4 max_scan int,
-- $5 after_priority smallint, $6 after_run_at timestamptz,
-- $7 after_job_id bigint.
SELECT queue, priority, run_at, job_id, job_class, args, error_count,
       last_error, locked, scanned, exhausted, paused
FROM qg_lock_jobs($1::text, $2::int, $3::bigint[], $4::int, $5::smallint,
                  $6::timestamptz, $7::bigint)
