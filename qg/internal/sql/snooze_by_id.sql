-- qg_snooze_by_id: qg_snooze_batch for jobs whose key changed while they
-- ran (rare: a full scan).
-- $1 ids bigint[], $2 delays float8[].
-- prepared by: locker
UPDATE que_jobs AS j
SET run_at = now() + k.delay * '1 second'::interval
FROM unnest($1::bigint[], $2::float8[]) AS k(job_id, delay)
WHERE j.job_id = k.job_id
RETURNING j.job_id
