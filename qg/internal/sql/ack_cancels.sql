-- qg_ack_cancels: a pool takes the cancel requests of jobs it holds ($1);
-- returns the ids it took (a request withdrawn meanwhile is not taken).
-- $1 ids bigint[].
UPDATE qg_cancellations
SET acknowledged_at = now(), holder_pid = pg_backend_pid()
WHERE job_id = ANY($1::bigint[])
AND acknowledged_at IS NULL
RETURNING job_id
