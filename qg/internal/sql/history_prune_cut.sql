-- qg_history_prune_cut: where history records past retention end
-- (qg_history_settings, or its stated defaults, 7 days and 1,000,000,
-- while no row was written): records finished before `before` (older than
-- `keep`), and records at or before (max_at, max_id) in (finished_at,
-- job_id) order (beyond the newest `max_records`). NULLs: no such bound
-- applies now. Counting the newest max_records walks that many index
-- entries, so it is skipped while the table's estimated size
-- (pg_class.reltuples, kept by autovacuum) is below 90% of it. A `keep`
-- of 6,000 years or more (beyond the calendar) cuts nothing.
WITH s AS (
  SELECT keep, max_records FROM qg_history_settings
  UNION ALL
  SELECT interval '7 days', 1000000
  WHERE NOT EXISTS (SELECT 1 FROM qg_history_settings)
), m AS (
  SELECT h.finished_at, h.job_id
  FROM s, pg_class AS c,
       LATERAL (SELECT x.finished_at, x.job_id FROM qg_job_history AS x
                ORDER BY x.finished_at DESC, x.job_id DESC
                OFFSET s.max_records LIMIT 1) AS h
  WHERE s.max_records IS NOT NULL
  AND c.oid = 'qg_job_history'::regclass
  AND (c.reltuples < 0 OR c.reltuples >= s.max_records * 0.9)
)
SELECT (SELECT CASE WHEN s.keep < interval '6000 years'
                    THEN now() - s.keep END
        FROM s WHERE s.keep IS NOT NULL) AS before,
       (SELECT m.finished_at FROM m) AS max_at,
       (SELECT m.job_id FROM m) AS max_id
