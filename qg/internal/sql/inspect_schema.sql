-- qg_inspect_schema: whether que_jobs exists, its comment (Que's schema
-- version) and how many of Que 0.x's distinctive columns it has (Que 1.x+ has
-- id and last_error_message instead of job_id and last_error).
SELECT to_regclass('que_jobs') IS NOT NULL,
       coalesce(obj_description(to_regclass('que_jobs'), 'pg_class'), ''),
       (SELECT count(*) FROM information_schema.columns
        WHERE table_name = 'que_jobs' AND table_schema = current_schema()
        AND column_name IN ('job_class', 'job_id', 'last_error'))
