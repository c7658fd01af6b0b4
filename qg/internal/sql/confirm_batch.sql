-- qg_confirm_batch: re-checks jobs that waited in a pool's buffer, just
-- before they start: each row must still exist with the key it was locked
-- with. A job whose row is gone or whose key changed (deleted, moved ahead,
-- finished by someone else) is unlocked here and reported not present. Only
-- reads que_jobs, so releasing a lock inside the statement races with no
-- write of ours. That the statement ran on the locker session at all proves
-- the session, and with it every lock it took, is still alive.
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[],
-- $4 ids bigint[].
-- prepared by: locker
SELECT job_id,
       present,
       CASE WHEN NOT present THEN pg_advisory_unlock(job_id) END AS released
FROM (
  SELECT k.job_id, y.job_id IS NOT NULL AS present
  FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[])
    AS k(queue, priority, run_at, job_id)
  -- One index probe per key: OFFSET 0 keeps the planner from turning the
  -- lookup into a join or a hashed subquery, which reads the whole queue
  -- when the statistics say it is empty (plans made then are kept).
  LEFT JOIN LATERAL (SELECT j.job_id FROM que_jobs AS j
                     @key_match@
                     OFFSET 0) AS y ON true
) AS checked
