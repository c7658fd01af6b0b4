-- qg_insert_unique_job: enqueues one unique job, or finds the job that holds
-- its key; also stores a job with a limit key (qg_limit_key) or a batch
-- (qg_batch_id), unique or not. Returns the stored row and qg_duplicate (false: inserted now;
-- true: the job that already held the key). No row at all: the key's holder
-- committed after this statement's snapshot, or finished in between; the
-- caller runs the statement again (a new snapshot sees the outcome).
-- $1 queue text, $2 priority smallint, $3 run_at timestamptz (NULL: now()),
-- $4 job_class text, $5 args json, $6 qg_unique_key text (NULL: not unique),
-- $7 qg_limit_key text (NULL: none), $8 qg_batch_id bigint (NULL: none).
WITH inserted AS (
  INSERT INTO que_jobs (queue, priority, run_at, job_class, args,
                        qg_unique_key, qg_limit_key, qg_batch_id)
  VALUES (
    $1::text,
    $2::smallint,
    coalesce($3::timestamptz, now()::timestamptz),
    $4::text,
    $5::json,
    $6::text,
    $7::text,
    $8::bigint
  )
  ON CONFLICT (qg_unique_key) WHERE qg_unique_key IS NOT NULL DO NOTHING
  RETURNING queue, priority, run_at, job_id, job_class, args, error_count,
            last_error
)
SELECT queue, priority, run_at, job_id, job_class, args, error_count,
       last_error, false AS qg_duplicate
FROM inserted
UNION ALL
SELECT queue, priority, run_at, job_id, job_class, args, error_count,
       last_error, true
FROM que_jobs
WHERE qg_unique_key = $6::text AND NOT EXISTS (SELECT 1 FROM inserted)
