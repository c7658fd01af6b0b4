-- qg_history_privileges: whether this session's role may write job history
-- as the statements that finish jobs do (EXECUTE on qg_history_queues(),
-- SELECT on its settings, SELECT, INSERT and UPDATE on qg_job_history).
-- False where the schema lacks job history.
SELECT CASE WHEN to_regclass('qg_job_history') IS NOT NULL
             AND to_regclass('qg_history_settings') IS NOT NULL
             AND to_regclass('qg_queues') IS NOT NULL
             AND to_regprocedure('qg_history_queues(text[])') IS NOT NULL
        THEN has_function_privilege('qg_history_queues(text[])', 'EXECUTE')
             AND has_table_privilege('qg_history_settings', 'SELECT')
             AND has_table_privilege('qg_queues', 'SELECT')
             AND has_table_privilege('qg_job_history', 'SELECT')
             AND has_table_privilege('qg_job_history', 'INSERT')
             AND has_table_privilege('qg_job_history', 'UPDATE')
        ELSE false
       END
