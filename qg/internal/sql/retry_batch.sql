-- qg_retry_batch: qg_retry_job for many jobs, by key (an index lookup each),
-- except jobs an operator cancelled (those are revived only one by one, by
-- id: qg_retry_job) and jobs waiting for their parents (run_at 9000-01-01:
-- qg/workflow.h). Returns one row per job it found: its id and whether it
-- was retried (false: cancelled or waiting, left alone). A row whose key changed since
-- it was listed (a worker finished or rescheduled it) is left alone and not
-- returned. The caller holds the jobs' advisory locks (qg_try_lock_batch).
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[],
-- $4 ids bigint[] (parallel arrays).
WITH retried AS (
  UPDATE que_jobs AS j
  SET run_at      = least(j.run_at, now()),
      error_count = CASE WHEN j.run_at >= '@DEAD_RUN_AT@' THEN 0
                         ELSE j.error_count END
  FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[])
    AS k(queue, priority, run_at, job_id)
  @key_match@
  AND NOT
  @cancelled_job@
  AND j.run_at <> '9000-01-01'  -- a child waiting for its parents stays
  RETURNING j.job_id
)
SELECT job_id, true AS retried FROM retried
UNION ALL
SELECT j.job_id, false AS retried
FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[])
  AS k(queue, priority, run_at, job_id),
  que_jobs AS j
@key_match@
AND (
@cancelled_job@
OR j.run_at = '9000-01-01')
