-- qg_hand_release: lets go of flow control's hand-off lock (session lock
-- (1902603373, 1), shared; see qg_lock_jobs()), however often the session
-- holds it, for a pool that holds it without a lock scan to send: a change
-- to limits waits for every pool to let go of it.
-- prepared by: locker
SELECT count(*)
FROM (SELECT set_config('client_min_messages', 'error', true)) AS quiet(q),
     LATERAL (SELECT 1 FROM generate_series(1, 100)
              WHERE quiet.q IS NOT NULL
                AND pg_advisory_unlock_shared(1902603373, 1)) AS released
