-- qg_history_prune_cut: the finished_at before which history records are
-- past retention (qg_history_settings: older than `keep`, or beyond the
-- newest `max_records`), NULL when none are. Counting the newest
-- max_records walks that many index entries, so it is skipped while the
-- table's estimated size (pg_class.reltuples, kept by autovacuum) is below
-- 90% of it.
WITH s AS (
  SELECT keep, max_records FROM qg_history_settings
)
SELECT greatest(
  (SELECT now() - s.keep FROM s WHERE s.keep IS NOT NULL),
  (SELECT (SELECT h.finished_at FROM qg_job_history AS h
           ORDER BY h.finished_at DESC
           OFFSET s.max_records LIMIT 1) + interval '1 microsecond'
   FROM s, pg_class AS c
   WHERE s.max_records IS NOT NULL
   AND c.oid = 'qg_job_history'::regclass
   AND (c.reltuples < 0 OR c.reltuples >= s.max_records * 0.9)))
