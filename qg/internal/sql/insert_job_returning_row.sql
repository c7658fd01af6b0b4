-- qg_insert_job_returning_row: qg_insert_job returning the whole row
-- (synchronous mode works the job it just stored).
-- $1 queue text, $2 priority smallint, $3 run_at timestamptz (NULL: now()),
-- $4 job_class text, $5 args json.
@insert_job_row@
RETURNING queue, priority, run_at, job_id, job_class, args, error_count,
          last_error
