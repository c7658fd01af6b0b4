-- history_off: the CTE body saying whether history is off for every queue
-- of $5 (the statement's distinct queues; see qg_history_queues()), read
-- inline, two index probes per queue, once per statement: the plain
-- writes of a pool that saw history off check it in the same statement.
SELECT NOT EXISTS (
  SELECT 1 FROM unnest($5::text[]) AS q(queue)
  WHERE coalesce((SELECT x.history FROM qg_queues AS x
                  WHERE x.queue = q.queue),
                 (SELECT s.all_queues FROM qg_history_settings AS s
                  WHERE s.singleton = true),
                 false)) AS off
