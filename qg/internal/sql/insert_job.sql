-- qg_insert_job: enqueues one job and returns its id.
-- $1 queue text, $2 priority smallint, $3 run_at timestamptz (NULL: now()),
-- $4 job_class text, $5 args json.
INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
VALUES (
  $1::text,
  $2::smallint,
  coalesce($3::timestamptz, now()::timestamptz),
  $4::text,
  $5::json
)
RETURNING job_id
