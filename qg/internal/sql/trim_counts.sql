-- qg_trim_counts: forgets throughput history older than $1 seconds. Only
-- where this role may (an enqueuer's client counts nothing it could trim)
-- and the server takes changes (not a standby): otherwise it does nothing,
-- rather than leave an ERROR in the server's log on every start.
-- $1 keep float8 (seconds).
DELETE FROM qg_job_counts
WHERE minute < now() - $1::float8 * '1 second'::interval
AND   has_table_privilege('qg_job_counts', 'DELETE')
AND   NOT pg_is_in_recovery()
AND   current_setting('transaction_read_only') = 'off'
