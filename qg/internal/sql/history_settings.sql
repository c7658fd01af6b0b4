-- qg_history_settings: the default (queue NULL: whether history is on for
-- every queue, retention keep in seconds and max_records, NULL: no bound;
-- the stated defaults when the settings were never written), then one row
-- per queue with its own setting.
SELECT NULL::text AS queue, s.all_queues, extract(epoch FROM s.keep),
       s.max_records
FROM (SELECT all_queues, keep, max_records FROM qg_history_settings
      UNION ALL
      SELECT false, interval '7 days', 1000000
      WHERE NOT EXISTS (SELECT 1 FROM qg_history_settings)) AS s
UNION ALL
SELECT q.queue, q.history, NULL, NULL
FROM qg_queues AS q
WHERE q.history IS NOT NULL
