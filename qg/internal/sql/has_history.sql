-- qg_has_history: whether `qg migrate` added job history (see
-- qg_inspect_schema's last column).
SELECT to_regclass('qg_job_history') IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'qg_history_queues')
