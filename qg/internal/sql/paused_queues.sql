-- qg_paused_queues: the queues paused for qg-cpp pools.
SELECT queue FROM qg_queues WHERE paused ORDER BY queue
