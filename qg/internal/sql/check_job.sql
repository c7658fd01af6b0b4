-- qg_check_job: whether a locked job's row still exists, unchanged in its
-- key (another worker may have finished it between our snapshot and our lock).
-- The session holds the job's advisory lock until the job is done, and the
-- handler's Job::Tx() runs on it: the server must not end it for idling in
-- that transaction (a DBA's idle_in_transaction_session_timeout), or the
-- lock goes with it and another worker runs the job beside the handler.
-- $1 queue text, $2 priority smallint, $3 run_at timestamptz, $4 job_id bigint.
-- prepared by: client
SELECT true AS exists
FROM   que_jobs,
       (SELECT set_config('idle_in_transaction_session_timeout', '0', false))
         AS keep_session
WHERE  queue    = $1::text
AND    priority = $2::smallint
AND    run_at   = $3::timestamptz
AND    job_id   = $4::bigint
