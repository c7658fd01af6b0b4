-- error_kept: the UPDATE that records the failure of the jobs of `k` that
-- stay in que_jobs (not `moves`), with the start of their first run.
UPDATE que_jobs AS j
SET error_count = k.error_count,
    run_at      = CASE WHEN k.delay = 'Infinity'::float8
                       THEN '@DEAD_RUN_AT@'::timestamptz
                       ELSE now() + k.delay * '1 second'::interval END,
    last_error  = k.message,
    qg_first_started_at = coalesce(
      j.qg_first_started_at,
      statement_timestamp() - k.started_ago * interval '1 second')
FROM k
WHERE j.ctid = k.row_ctid AND NOT k.moves
RETURNING j.job_id
