-- qg_ack_cancels: a pool takes the cancel requests of jobs it holds ($1);
-- returns the ids it took. A request withdrawn meanwhile is not taken, nor
-- one that does not apply any more: expired, or asked of an earlier run of
-- the job (its holder then no longer holds the job, or the job's key
-- changed: see fragments/live_cancel.sql).
-- $1 ids bigint[].
-- prepared by: locker
UPDATE qg_cancellations AS c
SET acknowledged_at = now(), holder_pid = pg_backend_pid()
WHERE c.job_id = ANY($1::bigint[])
AND c.acknowledged_at IS NULL
AND
@live_cancel@
RETURNING c.job_id
