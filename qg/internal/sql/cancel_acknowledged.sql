-- qg_cancel_acknowledged: whether the holder of job $1 took the cancel
-- request (and its session's pid).
-- $1 job_id bigint.
SELECT acknowledged_at IS NOT NULL, holder_pid
FROM qg_cancellations WHERE job_id = $1::bigint
