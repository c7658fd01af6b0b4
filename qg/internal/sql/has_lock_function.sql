-- qg_has_lock_function: whether `qg migrate` added the functions the fast
-- path needs, as this version calls them: qg_lock_jobs() with its rewind
-- key, the limits scope, probes and hand-off (16 arguments) and each
-- row's ctid (row_tid), qg_sweep(),
-- and the job history its completion statements write
-- (qg_history_queues()).
SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'qg_lock_jobs'
               AND pronargs = 16 AND 'row_tid' = ANY (proargnames))
       AND EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'qg_sweep')
       AND EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'qg_history_queues')
