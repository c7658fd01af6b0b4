-- qg_hand_release: flow control's hand-off lock alone (qg_limit_hand()),
-- for a pool with nothing to lock: $2 1 lets go of it and takes it again,
-- 2 keeps it, 4 lets go of it. Returns whether the session holds it, the
-- version of queue $1's limits and whether a change waits for the lock.
-- $1 queue text, $2 op smallint.
-- prepared by: locker
SELECT held, version, change_wanted FROM qg_limit_hand($1::text, $2::smallint)
