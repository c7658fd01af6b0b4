-- qg_request_cancel: asks the qg-cpp pool that holds job $1 to stop it
-- (NOTIFY qg_control "cancel\t<id>"); the pool acknowledges in
-- qg_cancellations (qg_ack_cancels). The request belongs to the job's
-- current run: it records the session holding the job's advisory lock now
-- and the job's key, and it expires after $2 seconds (how long the
-- requester waits); pools honour it only while all three hold (see
-- fragments/live_cancel.sql). Returns the job's id and the holder's pid, or
-- no row when nobody holds the job now (or there is no such job). Left-over
-- requests of other jobs are deleted on the way.
-- $1 job_id bigint, $2 expires_in float8 (seconds).
WITH job AS (
  SELECT j.queue, j.priority, j.run_at, j.job_id,
         (SELECT min(pid)
          @this_database_locks@
          AND ((classid::bigint << 32) | objid::bigint) = j.job_id)
           AS holder
  FROM que_jobs AS j
  WHERE j.job_id = $1::bigint
),
pruned AS (
  DELETE FROM qg_cancellations AS c
  WHERE c.job_id <> $1::bigint
  AND
  @stale_cancel@
),
request AS (
  INSERT INTO qg_cancellations AS c
    (job_id, requested_at, acknowledged_at, holder_pid, run_holder_pid,
     run_queue, run_priority, run_run_at, expires_at)
  SELECT job.job_id, now(), NULL, NULL, job.holder, job.queue, job.priority,
         job.run_at, now() + $2::float8 * interval '1 second'
  FROM job
  WHERE job.holder IS NOT NULL
  ON CONFLICT (job_id) DO UPDATE
  SET requested_at = excluded.requested_at, acknowledged_at = NULL,
      holder_pid = NULL, run_holder_pid = excluded.run_holder_pid,
      run_queue = excluded.run_queue, run_priority = excluded.run_priority,
      run_run_at = excluded.run_run_at, expires_at = excluded.expires_at
  RETURNING c.job_id, c.run_holder_pid
)
SELECT r.job_id, r.run_holder_pid,
       pg_notify('qg_control', 'cancel' || E'\t' || r.job_id::text)
FROM request AS r
