-- qg_insert_many_unique: qg_insert_many for a batch that holds unique jobs
-- or jobs with a limit key or a batch.
-- Jobs are inserted in input order, so within the batch the first job with
-- a key wins. Returns one row per input job, in input order: its ordinal,
-- the id stored (its own, or that of the job holding its key) and whether
-- it was a duplicate. A NULL job_id: the key's holder committed after this
-- statement's snapshot, or finished in between; the caller enqueues that
-- job again on its own (qg_insert_unique_job).
-- Ids are drawn from job_id's own sequence up front, so that every input
-- row is matched to what became of it.
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[]
-- (NULL elements: now()), $4 job_classes text[], $5 args text[] (JSON),
-- $6 unique_keys text[] (NULL elements: not unique), $7 limit_keys text[]
-- (NULL elements: none), $8 batch_ids bigint[] (NULL elements: none).
WITH input AS (
  SELECT n, q, p, coalesce(r, now()) AS r, t, a, k, l, b,
         nextval(pg_get_serial_sequence('que_jobs', 'job_id')) AS id
  FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::text[],
              $5::text[], $6::text[], $7::text[], $8::bigint[])
       WITH ORDINALITY AS u(q, p, r, t, a, k, l, b, n)
),
inserted AS (
  INSERT INTO que_jobs (queue, priority, run_at, job_id, job_class, args,
                        qg_unique_key, qg_limit_key, qg_batch_id)
  SELECT q, p, r, id, t, a::json, k, l, b FROM input ORDER BY n
  ON CONFLICT (qg_unique_key) WHERE qg_unique_key IS NOT NULL DO NOTHING
  RETURNING job_id, qg_unique_key
)
SELECT input.n,
       coalesce(mine.job_id, earlier.job_id, stored.job_id) AS job_id,
       mine.job_id IS NULL AS qg_duplicate
FROM input
LEFT JOIN inserted mine ON mine.job_id = input.id
LEFT JOIN inserted earlier
  ON mine.job_id IS NULL AND earlier.qg_unique_key = input.k
LEFT JOIN que_jobs stored
  ON mine.job_id IS NULL AND earlier.job_id IS NULL
     AND stored.qg_unique_key = input.k
ORDER BY input.n
