-- qg_try_lock_job: takes a job's advisory lock if nobody holds it, so that an
-- operator's change (delete, retry, cancel) never touches a job a worker is
-- running. Release with qg_unlock_job after the change commits.
-- $1 job_id bigint.
-- prepared by: client
SELECT pg_try_advisory_lock($1::bigint)
