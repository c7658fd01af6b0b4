-- qg_insert_job: enqueues one job and returns its id.
-- $1 queue text, $2 priority smallint, $3 run_at timestamptz (NULL: now()),
-- $4 job_class text, $5 args json.
-- prepared by: client
@insert_job_row@
RETURNING job_id
