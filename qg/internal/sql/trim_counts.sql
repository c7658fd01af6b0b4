-- qg_trim_counts: forgets throughput history older than $1 seconds.
-- $1 keep float8 (seconds).
DELETE FROM qg_job_counts
WHERE minute < now() - $1::float8 * '1 second'::interval
