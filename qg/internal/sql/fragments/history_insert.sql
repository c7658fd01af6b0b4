-- history_insert: writes the record of each job of the CTE `gone` (rows
-- just deleted from que_jobs, with h_outcome, h_attempts, h_started_ago and
-- h_ended_ago (seconds before this statement the run started and ended;
-- NULL: no run), h_error and h_output) whose queue has history on: one of
-- the CTE `hq`'s queues (qg_history_queues(), once per statement). A
-- record left by an earlier life of the same id (a job revived and
-- finished again) is replaced.
INSERT INTO qg_job_history AS h
  (job_id, queue, priority, job_class, args, outcome, attempts, enqueued_at,
   first_started_at, started_at, finished_at, run_time, last_error, output,
   limit_key, unique_key)
SELECT g.job_id, g.queue, g.priority, g.job_class, g.args, g.h_outcome,
       g.h_attempts, g.qg_enqueued_at,
       coalesce(g.qg_first_started_at,
                statement_timestamp() - g.h_started_ago * interval '1 second'),
       statement_timestamp() - g.h_started_ago * interval '1 second',
       statement_timestamp()
         - coalesce(g.h_ended_ago, 0) * interval '1 second',
       (g.h_started_ago - g.h_ended_ago) * interval '1 second',
       g.h_error, g.h_output::json, g.qg_limit_key, g.qg_unique_key
FROM gone AS g, hq
WHERE g.queue = ANY (hq.queues)
ON CONFLICT (job_id) DO UPDATE
SET queue = excluded.queue, priority = excluded.priority,
    job_class = excluded.job_class, args = excluded.args,
    outcome = excluded.outcome, attempts = excluded.attempts,
    enqueued_at = excluded.enqueued_at,
    first_started_at = excluded.first_started_at,
    started_at = excluded.started_at, finished_at = excluded.finished_at,
    run_time = excluded.run_time, last_error = excluded.last_error,
    output = excluded.output, limit_key = excluded.limit_key,
    unique_key = excluded.unique_key
