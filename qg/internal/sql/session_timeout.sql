-- qg_session_timeout: the settings a pool's own sessions (locker, writer,
-- sweeper, control listener) need whatever a DBA set for the database or
-- role. statement_timeout: the longest any statement may run, so that a lock
-- query stuck behind another session's table lock is cancelled by the
-- server instead of stalling the pool. lock_timeout off: that bound is
-- statement_timeout's alone, so a completion never fails for waiting a
-- moment on a row. idle_in_transaction_session_timeout and
-- idle_session_timeout (PostgreSQL 14+) off: the locker session sits idle
-- for as long as the queue is quiet while its advisory locks guard running
-- jobs; the server must not end it for that.
-- $1 timeout text (e.g. '30000ms').
SELECT set_config('statement_timeout', $1::text, false),
       set_config('lock_timeout', '0', false),
       set_config('idle_in_transaction_session_timeout', '0', false),
       CASE WHEN current_setting('idle_session_timeout', true) IS NOT NULL
            THEN set_config('idle_session_timeout', '0', false) END
