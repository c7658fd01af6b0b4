-- qg_insert_many: many jobs in one statement, ids returned in input order.
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[]
-- (NULL elements: now()), $4 job_classes text[], $5 args text[] (JSON).
INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
SELECT q, p, coalesce(r, now()), t, a::json
FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::text[],
            $5::text[]) WITH ORDINALITY AS u(q, p, r, t, a, n)
ORDER BY n
RETURNING job_id
