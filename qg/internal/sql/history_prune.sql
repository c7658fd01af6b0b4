-- qg_history_prune: deletes up to $2 history records finished before $1
-- (oldest first; records another pruner is deleting are skipped) and
-- returns how many it deleted.
-- $1 before timestamptz, $2 batch int.
WITH doomed AS (
  SELECT h.ctid AS row_ctid
  FROM qg_job_history AS h
  WHERE h.finished_at < $1::timestamptz
  ORDER BY h.finished_at
  LIMIT $2::int
  FOR UPDATE SKIP LOCKED
), gone AS (
  DELETE FROM qg_job_history AS h
  USING doomed AS d
  WHERE h.ctid = d.row_ctid
  RETURNING 1
)
SELECT count(*) FROM gone
