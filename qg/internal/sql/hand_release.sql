-- qg_hand_release: flow control's hand-off lock alone (qg_limit_hand()),
-- for a pool with nothing to lock: $2 1 lets go of it and takes it again,
-- 4 lets go of it. Returns whether the session holds it and the version of
-- queue $1's limits.
-- $1 queue text, $2 op smallint.
-- prepared by: locker
SELECT held, version FROM qg_limit_hand($1::text, $2::smallint)
