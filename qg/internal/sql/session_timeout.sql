-- qg_session_timeout: the longest any statement of this session may run
-- (statement_timeout), so that a lock query stuck behind another session's
-- table lock is cancelled by the server instead of stalling the pool.
-- $1 timeout text (e.g. '30000ms').
SELECT set_config('statement_timeout', $1::text, false)
