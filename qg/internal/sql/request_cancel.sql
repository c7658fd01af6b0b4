-- qg_request_cancel: asks the qg-cpp pool that holds job $1 to stop it
-- (NOTIFY qg_control "cancel\t<id>"); the pool acknowledges in
-- qg_cancellations (qg_ack_cancels).
-- $1 job_id bigint.
WITH request AS (
  INSERT INTO qg_cancellations (job_id, requested_at)
  VALUES ($1::bigint, now())
  ON CONFLICT (job_id) DO UPDATE
  SET requested_at = now(), acknowledged_at = NULL, holder_pid = NULL
  RETURNING job_id
)
SELECT pg_notify('qg_control', 'cancel' || E'\t' || job_id::text)
FROM request
