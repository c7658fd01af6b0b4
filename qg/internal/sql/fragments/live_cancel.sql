-- live_cancel: whether the cancel request c still applies: it has not
-- expired (its requester waits no longer), the session that held the job's
-- advisory lock when it was asked (c.run_holder_pid) holds it still, and
-- the job's row still has the key it had then (a job that failed, was
-- snoozed or finished has another key, or none): a request belongs to one
-- run of one job, never to a later one.
(c.expires_at > now()
 AND EXISTS (SELECT 1 FROM pg_locks AS l
             WHERE l.locktype = 'advisory'
             AND   l.objsubid = 1
             AND   l.granted
             AND   l.database = (SELECT oid FROM pg_database
                                 WHERE datname = current_database())
             AND   ((l.classid::bigint << 32) | l.objid::bigint) = c.job_id
             AND   l.pid = c.run_holder_pid)
 AND EXISTS (SELECT 1 FROM que_jobs AS y
             WHERE y.queue = c.run_queue
             AND   y.priority = c.run_priority
             AND   y.run_at = c.run_run_at
             AND   y.job_id = c.job_id))
