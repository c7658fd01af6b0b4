-- qg_history_prune: deletes up to $4 history records past retention
-- (qg_history_prune_cut: finished before $1, or at or before ($2, $3) in
-- (finished_at, job_id) order), oldest first, skipping records another
-- pruner is deleting, and returns how many it deleted.
-- $1 before timestamptz, $2 max_at timestamptz, $3 max_id bigint,
-- $4 batch int.
WITH doomed AS (
  SELECT h.ctid AS row_ctid
  FROM qg_job_history AS h
  WHERE h.finished_at < $1::timestamptz
  OR (h.finished_at, h.job_id) <= ($2::timestamptz, $3::bigint)
  ORDER BY h.finished_at
  LIMIT $4::int
  FOR UPDATE SKIP LOCKED
), gone AS (
  DELETE FROM qg_job_history AS h
  USING doomed AS d
  WHERE h.ctid = d.row_ctid
  RETURNING 1
)
SELECT count(*) FROM gone
