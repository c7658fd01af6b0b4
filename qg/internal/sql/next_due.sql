-- qg_next_due: how long until the earliest future job of queue $1 is due, in
-- seconds by the database's clock (NULL if there is none; dead jobs do not
-- count), and the database's clock itself (epoch seconds). Relative, so that
-- a client whose clock differs from the database's still wakes on time; the
-- clock lets it place NOTIFY payloads' absolute run_at on its own clock.
-- $1 queue text.
SELECT extract(epoch FROM min(run_at) - now())::float8 AS due_in,
       extract(epoch FROM now())::float8 AS db_now
FROM que_jobs
WHERE queue = $1::text
AND run_at > now()
AND run_at < '@DEAD_RUN_AT@'
