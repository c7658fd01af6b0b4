-- qg_cancel_unheld: finishes job $1 as cancelled: kept like a dead job
-- (run_at far ahead, so no worker takes it) with last_error "qg: cancelled:
-- ..." ($2), error_count unchanged. The error the job failed or died of, if
-- any, is kept below that line; a job cancelled already is left as it is.
-- The caller holds the job's advisory lock (qg_try_lock_job): nobody is
-- running it.
-- $1 job_id bigint, $2 message text.
UPDATE que_jobs AS j
SET run_at     = CASE
      WHEN
      @cancelled_job@
        THEN j.run_at
      ELSE '@DEAD_RUN_AT@'
    END,
    last_error = CASE
      WHEN
      @cancelled_job@
        THEN j.last_error
      WHEN coalesce(j.last_error, '') = '' THEN $2::text
      ELSE $2::text || E'\nlast error before the cancel:\n' || j.last_error
    END
WHERE j.job_id = $1::bigint
RETURNING j.job_id
