-- qg_get_job: one job by id, as an operator's one-job view shows it, with
-- the pid of the session of THIS database that holds its advisory lock
-- (NULL: nobody). args and last_error come cut at $2 characters, with their
-- full sizes in bytes (args_bytes, last_error_bytes), so that a row of any
-- size costs the caller the same. Que's table has no index on job_id
-- alone, so this reads the whole table: for operators, not workers.
-- $1 job_id bigint, $2 the most characters of args and last_error, int.
SELECT j.queue, j.priority, j.run_at, j.job_id, j.job_class,
       substr(j.args::text, 1, $2::int)  AS args,
       octet_length(j.args::text)        AS args_bytes,
       j.error_count,
       substr(j.last_error, 1, $2::int)  AS last_error,
       octet_length(j.last_error)        AS last_error_bytes,
       (SELECT min(pid)
        @this_database_locks@
        AND ((classid::bigint << 32) | objid::bigint) = j.job_id)
         AS held_by
FROM que_jobs AS j
WHERE j.job_id = $1::bigint
