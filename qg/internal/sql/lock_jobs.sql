-- qg_lock_jobs: the fast path's lock (qg_lock_jobs() in
-- schema/qg_additions.sql): up to $2 runnable jobs of queue $1 in
-- (priority, run_at, job_id) order, first after the rewind key ($8, $9, $10)
-- up to the cursor ($5, $6, $7), then after the cursor (from the head when
-- it is NULL), skipping the ids in $3, looking at no more than $4
-- candidates; each locked and re-checked; then a summary row (locked =
-- false: scanned, exhausted, paused, the new cursor, where an unfinished
-- rewind stopped, the first job a limit held back, when a rate limit has a
-- token again). Rows of limited jobs carry the slot locks they took.
-- $1 queue text, $2 want int, $3 held bigint[] (job ids and slot locks),
-- $4 max_scan int, $5 after_priority smallint, $6 after_run_at timestamptz,
-- $7 after_job_id bigint, $8 rewind_priority smallint,
-- $9 rewind_run_at timestamptz, $10 rewind_job_id bigint, $11 scope bigint
-- (the pool's id, for per-pool limits), $12..$15 the keys of held-back jobs
-- to probe first and their buckets (smallint[], timestamptz[], bigint[],
-- bigint[]), $16 hand smallint (the hand-off lock: 0 none, 1 let go and
-- take, 2 keep, 4 let go). Rows also say in which bucket a
-- pool may hand the job's slot on (limit_bucket) or which bucket's slot a
-- job locked without one waits for (limit_wait); the summary whether the
-- hand-off lock is held, the limits' version and whether a change to
-- limits waits for the hand-off lock; locked rows where they were read
-- (row_tid, the completion statements' hint).
-- prepared by: locker
SELECT queue, priority, run_at, job_id, job_class, args, error_count,
       last_error, locked, scanned, exhausted, paused, rewind_priority,
       rewind_run_at, rewind_job_id, limit_locks, blocked_priorities,
       blocked_run_ats, blocked_job_ids, blocked_buckets, retry_in,
       limit_bucket, limit_wait, hand_held, limits_version, change_wanted,
       row_tid
FROM qg_lock_jobs($1::text, $2::int, $3::bigint[], $4::int, $5::smallint,
                  $6::timestamptz, $7::bigint, $8::smallint,
                  $9::timestamptz, $10::bigint, $11::bigint, $12::smallint[],
                  $13::timestamptz[], $14::bigint[], $15::bigint[],
                  $16::smallint)
