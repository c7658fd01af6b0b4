-- completed_gone: the DELETE ... RETURNING of the completed jobs of `k`
-- (with row_ctid, started_ago, ended_ago and output), with what their
-- history records take (fragments/history_insert.sql).
DELETE FROM que_jobs AS j
USING k
WHERE j.ctid = k.row_ctid
RETURNING j.queue, j.priority, j.job_id, j.job_class, j.args,
          j.qg_enqueued_at, j.qg_first_started_at, j.qg_limit_key, j.qg_unique_key,
          'completed'::text AS h_outcome,
          least(j.error_count::bigint + 1, 2147483647)::int AS h_attempts,
          k.started_ago AS h_started_ago, k.ended_ago AS h_ended_ago,
          j.last_error AS h_error, k.output AS h_output
