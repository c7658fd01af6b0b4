-- qg_console_queues: every queue's pause state as qg_queues records it
-- (schema/qg_additions.sql; check qg_console_tables first). A queue with
-- no row is not paused.
SELECT queue, paused, updated_at
FROM qg_queues
ORDER BY queue
