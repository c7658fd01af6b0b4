-- qg_inspect_schema: whether que_jobs exists, its comment (Que's schema
-- version) and how many of Que 0.x's distinctive columns it has (Que 1.x+ has
-- id and last_error_message instead of job_id and last_error), and whether
-- `qg migrate` added job history (qg_job_history, qg_history_queues() and
-- que_jobs' time columns) that the client's verbs then write, and whether
-- this role may write it (a role without the grants records no history
-- on the qg-compatible path; the fast path is unavailable to it).
SELECT to_regclass('que_jobs') IS NOT NULL,
       coalesce(obj_description(to_regclass('que_jobs'), 'pg_class'), ''),
       (SELECT count(*) FROM information_schema.columns
        WHERE table_name = 'que_jobs' AND table_schema = current_schema()
        AND column_name IN ('job_class', 'job_id', 'last_error')),
       to_regclass('qg_job_history') IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'qg_history_queues')
       AND (SELECT count(*) FROM information_schema.columns
            WHERE table_name = 'que_jobs' AND table_schema = current_schema()
            AND column_name IN ('qg_enqueued_at', 'qg_first_started_at',
                                'qg_limit_key', 'qg_unique_key')) = 4,
       CASE WHEN to_regclass('qg_job_history') IS NOT NULL
                 AND to_regclass('qg_history_settings') IS NOT NULL
                 AND to_regclass('qg_queues') IS NOT NULL
                 AND to_regprocedure('qg_history_queues(text[])') IS NOT NULL
            THEN has_function_privilege('qg_history_queues(text[])',
                                        'EXECUTE')
                 AND has_table_privilege('qg_history_settings', 'SELECT')
                 AND has_table_privilege('qg_queues', 'SELECT')
                 AND has_table_privilege('qg_job_history', 'SELECT')
                 AND has_table_privilege('qg_job_history', 'INSERT')
                 AND has_table_privilege('qg_job_history', 'UPDATE')
            ELSE false
       END
