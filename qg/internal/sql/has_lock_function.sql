-- qg_has_lock_function: whether `qg migrate` added qg_lock_jobs(), which the
-- fast path needs.
SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'qg_lock_jobs')
