// qg/internal/sql.h
// -----------------------------------------------------------------------------
//
// The SQL of the Que 0.x protocol (as que-go and qg send it), and the names
// under which each pooled connection prepares it.
#ifndef QG_INTERNAL_SQL_H_
#define QG_INTERNAL_SQL_H_

namespace qg::internal::sql {

// Locks the first job of queue $1 with run_at <= now(), in (priority, run_at,
// job_id) order, whose advisory lock is free. The recursive CTE walks the
// index one candidate at a time and stops at the first lock it gets, so it
// never takes a lock on a row it does not return.
inline constexpr char kLockJobName[] = "qg_lock_job";
inline constexpr char kLockJob[] = R"sql(
WITH RECURSIVE jobs AS (
  SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
  FROM (
    SELECT j
    FROM que_jobs AS j
    WHERE queue = $1::text
    AND run_at <= now()
    ORDER BY priority, run_at, job_id
    LIMIT 1
  ) AS t1
  UNION ALL (
    SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
    FROM (
      SELECT (
        SELECT j
        FROM que_jobs AS j
        WHERE queue = $1::text
        AND run_at <= now()
        AND (priority, run_at, job_id) > (jobs.priority, jobs.run_at, jobs.job_id)
        ORDER BY priority, run_at, job_id
        LIMIT 1
      ) AS j
      FROM jobs
      WHERE jobs.job_id IS NOT NULL
      LIMIT 1
    ) AS t1
  )
)
SELECT queue, priority, run_at, job_id, job_class, args, error_count, last_error
FROM jobs
WHERE locked
LIMIT 1
)sql";

// Whether the locked row still exists (another worker may have finished it
// between our snapshot and our lock).
inline constexpr char kCheckJobName[] = "qg_check_job";
inline constexpr char kCheckJob[] = R"sql(
SELECT true AS exists
FROM   que_jobs
WHERE  queue    = $1::text
AND    priority = $2::smallint
AND    run_at   = $3::timestamptz
AND    job_id   = $4::bigint
)sql";

inline constexpr char kDeleteJobName[] = "qg_delete_job";
inline constexpr char kDeleteJob[] = R"sql(
DELETE FROM que_jobs
WHERE queue    = $1::text
AND   priority = $2::smallint
AND   run_at   = $3::timestamptz
AND   job_id   = $4::bigint
)sql";

// The run_at of a dead job (out of attempts): so far ahead that no worker,
// qg-cpp's or a peer's, takes it again, yet an ordinary timestamp that every
// client library can read. `qg retry` brings it back.
inline constexpr char kDeadRunAt[] = "9999-01-01 00:00:00+00";

// $1 = new error_count, $2 = delay in seconds ('Infinity': dead),
// $3 = message.
inline constexpr char kSetErrorName[] = "qg_set_error";
inline constexpr char kSetError[] = R"sql(
UPDATE que_jobs
SET error_count = $1::integer,
    run_at      = CASE WHEN $2::float8 = 'Infinity'::float8
                       THEN '9999-01-01 00:00:00+00'::timestamptz
                       ELSE now() + $2::float8 * '1 second'::interval END,
    last_error  = $3::text
WHERE queue    = $4::text
AND   priority = $5::smallint
AND   run_at   = $6::timestamptz
AND   job_id   = $7::bigint
)sql";

inline constexpr char kUnlockJobName[] = "qg_unlock_job";
inline constexpr char kUnlockJob[] = "SELECT pg_advisory_unlock($1::bigint)";

// Makes job $1 runnable now; a dead job (run_at 9999-01-01) also gets its
// attempts back. kRetryErrored does the same for every job that has failed.
inline constexpr char kRetryJob[] = R"sql(
UPDATE que_jobs
SET run_at = now(),
    error_count = CASE WHEN run_at >= '9999-01-01 00:00:00+00' THEN 0
                       ELSE error_count END
WHERE job_id = $1::bigint
)sql";
inline constexpr char kRetryErrored[] = R"sql(
UPDATE que_jobs
SET run_at = now(),
    error_count = CASE WHEN run_at >= '9999-01-01 00:00:00+00' THEN 0
                       ELSE error_count END
WHERE error_count > 0
)sql";

// $1 queue, $2 priority, $3 run_at (NULL: now()), $4 type, $5 args.
inline constexpr char kInsertJobName[] = "qg_insert_job";
inline constexpr char kInsertJob[] = R"sql(
INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
VALUES (
  $1::text,
  $2::smallint,
  coalesce($3::timestamptz, now()::timestamptz),
  $4::text,
  $5::json
)
RETURNING job_id
)sql";

// Many jobs in one statement: parallel arrays $1 queues, $2 priorities,
// $3 run_ats (NULL elements: now()), $4 types, $5 args.
inline constexpr char kInsertManyName[] = "qg_insert_many";
inline constexpr char kInsertMany[] = R"sql(
INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
SELECT q, p, coalesce(r, now()), t, a::json
FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::text[],
            $5::text[]) WITH ORDINALITY AS u(q, p, r, t, a, n)
ORDER BY n
RETURNING job_id
)sql";

inline constexpr char kCopyJobs[] =
    "COPY que_jobs (queue, priority, run_at, job_class, args) FROM STDIN";

// Same as kInsertJob, returning the whole row (synchronous mode).
inline constexpr char kInsertJobReturningRow[] = R"sql(
INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
VALUES (
  $1::text,
  $2::smallint,
  coalesce($3::timestamptz, now()::timestamptz),
  $4::text,
  $5::json
)
RETURNING queue, priority, run_at, job_id, job_class, args, error_count,
          last_error
)sql";

// Per (queue, job_class): count, working (advisory lock held in this
// database), errored, highest error_count, oldest run_at.
inline constexpr char kJobStats[] = R"sql(
SELECT queue,
       job_class,
       count(*)                          AS count,
       count(locks.job_id)               AS count_working,
       sum((error_count > 0)::int)       AS count_errored,
       max(error_count)                  AS highest_error_count,
       min(run_at)                       AS oldest_run_at,
       count(*) FILTER (WHERE run_at >= '9999-01-01 00:00:00+00')
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
)sql";

// ---------------------------------------------------------------------------
// The batched ("fast") path. Same table, same advisory locks; one locker
// session per worker pool holds the locks.

// Locks up to $3 runnable jobs of queue $1 in (priority, run_at, job_id)
// order, skipping the ids in $2 (jobs this session already holds: session
// advisory locks are re-entrant, so they must not be taken twice). The walk
// takes one candidate at a time and qg_lock_job() both locks and re-checks the
// row under a fresh snapshot, releasing the lock if the row is gone; the
// outer LIMIT stops the walk at the $3-th lock, so no lock is ever left on a
// row the query does not return.
inline constexpr char kLockBatchName[] = "qg_lock_batch";
inline constexpr char kLockBatch[] = R"sql(
WITH RECURSIVE jobs AS (
  SELECT (j).*, qg_lock_job((j).queue, (j).priority, (j).run_at, (j).job_id)
           AS locked
  FROM (
    SELECT j
    FROM que_jobs AS j
    WHERE queue = $1::text
    AND run_at <= now()
    AND job_id <> ALL($2::bigint[])
    ORDER BY priority, run_at, job_id
    LIMIT 1
  ) AS t1
  UNION ALL (
    SELECT (j).*, qg_lock_job((j).queue, (j).priority, (j).run_at, (j).job_id)
             AS locked
    FROM (
      SELECT (
        SELECT j
        FROM que_jobs AS j
        WHERE queue = $1::text
        AND run_at <= now()
        AND job_id <> ALL($2::bigint[])
        AND (priority, run_at, job_id) > (jobs.priority, jobs.run_at, jobs.job_id)
        ORDER BY priority, run_at, job_id
        LIMIT 1
      ) AS j
      FROM jobs
      WHERE jobs.job_id IS NOT NULL
      LIMIT 1
    ) AS t1
  )
)
SELECT queue, priority, run_at, job_id, job_class, args, error_count, last_error
FROM jobs
WHERE locked
LIMIT $3::int
)sql";

// The cheap variant of kLockBatch for an uncontended queue: the first $3
// candidates (skipping $2) in one index scan, each passed to qg_lock_job().
// Every candidate is returned with `locked`, so nothing is locked that the
// caller does not see, whatever the plan (the LIMIT sits below the volatile
// call and PostgreSQL never pushes a volatile expression under a LIMIT). The
// number of rows tells whether the queue may hold more; unlocked rows (taken
// by another worker) make the caller switch to kLockBatch, which walks past
// them.
inline constexpr char kLockCandidatesName[] = "qg_lock_candidates";
inline constexpr char kLockCandidates[] = R"sql(
SELECT queue, priority, run_at, job_id, job_class, args, error_count,
       last_error, qg_lock_job(queue, priority, run_at, job_id) AS locked
FROM (
  SELECT queue, priority, run_at, job_id, job_class, args, error_count,
         last_error
  FROM que_jobs
  WHERE queue = $1::text
  AND run_at <= now()
  AND job_id <> ALL($2::bigint[])
  ORDER BY priority, run_at, job_id
  LIMIT $3::int
) AS candidates
)sql";

// Deletes finished jobs by key: $1 queues, $2 priorities, $3 run_ats,
// $4 ids (parallel arrays).
inline constexpr char kDeleteBatchName[] = "qg_delete_batch";
inline constexpr char kDeleteBatch[] = R"sql(
DELETE FROM que_jobs AS j
USING unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[])
  AS k(queue, priority, run_at, job_id)
WHERE j.queue = k.queue
AND   j.priority = k.priority
AND   j.run_at = k.run_at
AND   j.job_id = k.job_id
)sql";

// Records failures by key: $5 new error counts, $6 delays in seconds,
// $7 messages.
inline constexpr char kErrorBatchName[] = "qg_error_batch";
inline constexpr char kErrorBatch[] = R"sql(
UPDATE que_jobs AS j
SET error_count = k.error_count,
    run_at      = CASE WHEN k.delay = 'Infinity'::float8
                       THEN '9999-01-01 00:00:00+00'::timestamptz
                       ELSE now() + k.delay * '1 second'::interval END,
    last_error  = k.message
FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[],
            $5::integer[], $6::float8[], $7::text[])
  AS k(queue, priority, run_at, job_id, error_count, delay, message)
WHERE j.queue = k.queue
AND   j.priority = k.priority
AND   j.run_at = k.run_at
AND   j.job_id = k.job_id
)sql";

// Unlocks $1 (ids); returns how many of them this session did not hold.
inline constexpr char kUnlockBatchName[] = "qg_unlock_batch";
inline constexpr char kUnlockBatch[] = R"sql(
SELECT count(*) FILTER (WHERE NOT pg_advisory_unlock(id))
FROM unnest($1::bigint[]) AS id
)sql";

// The earliest future run_at of queue $1, as epoch seconds (NULL if none).
inline constexpr char kNextRunAtName[] = "qg_next_run_at";
inline constexpr char kNextRunAt[] = R"sql(
SELECT extract(epoch FROM min(run_at))::float8
FROM que_jobs
WHERE queue = $1::text
AND run_at > now()
)sql";

// The channel qg_notify_jobs() notifies on.
inline constexpr char kNotifyChannel[] = "qg_jobs";

}  // namespace qg::internal::sql

#endif  // QG_INTERNAL_SQL_H_
