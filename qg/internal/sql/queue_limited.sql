-- qg_queue_limited: whether any flow-control limit (qg_limits) applies to
-- queue $1: the qg-compatible path then locks through qg_lock_jobs(),
-- which admits each job under the limits. Fails when the table is missing
-- (a database migrated by an older qg-cpp): no limits then.
-- $1 queue text.
SELECT EXISTS (SELECT 1 FROM qg_limits WHERE queue = $1::text OR queue IS NULL)
