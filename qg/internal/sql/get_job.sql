-- qg_get_job: one job by id, with the pid of the session of THIS database
-- that holds its advisory lock (NULL: nobody). Que's table has no index on
-- job_id alone, so this reads the whole table: for operators, not workers.
-- $1 job_id bigint.
SELECT j.queue, j.priority, j.run_at, j.job_id, j.job_class, j.args,
       j.error_count, j.last_error,
       (SELECT min(l.pid)
        FROM pg_locks AS l
        WHERE l.locktype = 'advisory'
        AND   l.objsubid = 1
        AND   l.granted
        AND   l.database = (SELECT oid FROM pg_database
                            WHERE datname = current_database())
        AND   ((l.classid::bigint << 32) | l.objid::bigint) = j.job_id)
         AS held_by
FROM que_jobs AS j
WHERE j.job_id = $1::bigint
