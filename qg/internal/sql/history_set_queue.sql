-- qg_history_set_queue: queue $1's own history setting ($2 NULL: follow
-- the default).
-- $1 queue text, $2 on boolean.
INSERT INTO qg_queues AS q (queue, history)
VALUES ($1::text, $2::boolean)
ON CONFLICT (queue) DO UPDATE SET history = excluded.history
