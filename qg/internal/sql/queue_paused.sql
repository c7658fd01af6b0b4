-- qg_queue_paused: whether queue $1 is paused (no row: not paused).
-- $1 queue text.
SELECT paused FROM qg_queues WHERE queue = $1::text
