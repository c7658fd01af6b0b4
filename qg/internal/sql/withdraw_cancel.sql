-- qg_withdraw_cancel: forgets the cancel request of job $1; returns a row
-- only when nobody had acknowledged it (otherwise the holder is stopping
-- the job: the request stands).
-- $1 job_id bigint, $2 acknowledged_too boolean (forget it either way).
DELETE FROM qg_cancellations
WHERE job_id = $1::bigint
AND (acknowledged_at IS NULL OR $2::boolean)
RETURNING acknowledged_at IS NULL AS unacknowledged
