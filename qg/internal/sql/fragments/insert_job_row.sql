-- insert_job_row: the row qg_insert_job and qg_insert_job_returning_row
-- insert, from $1 queue, $2 priority, $3 run_at (NULL: now()), $4 job_class
-- and $5 args.
INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
VALUES (
  $1::text,
  $2::smallint,
  coalesce($3::timestamptz, now()::timestamptz),
  $4::text,
  $5::json
)
