-- error_gone: the DELETE ... RETURNING of the jobs of `k` (with row_ctid,
-- error_count, message, started_ago, ended_ago and `moves`) that a failure
-- finishes for good under history (dead, or cancelled: their records are
-- written from it, fragments/history_insert.sql).
DELETE FROM que_jobs AS j
USING k
WHERE j.ctid = k.row_ctid AND k.moves
RETURNING j.queue, j.priority, j.job_id, j.job_class, j.args,
          j.qg_enqueued_at, j.qg_first_started_at, j.qg_limit_key, j.qg_unique_key,
          CASE WHEN k.message LIKE 'qg: cancelled%' THEN 'cancelled'
               ELSE 'dead' END AS h_outcome,
          CASE WHEN k.message LIKE 'qg: cancelled%'
               THEN least(j.error_count::bigint + 1, 2147483647)::int
               ELSE k.error_count END AS h_attempts,
          k.started_ago AS h_started_ago, k.ended_ago AS h_ended_ago,
          k.message AS h_error, NULL::text AS h_output
