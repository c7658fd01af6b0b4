-- history_insert: writes the record of each job of the CTE `gone` (rows
-- just deleted from que_jobs, with h_outcome, h_attempts, h_started_ago and
-- h_ended_ago (seconds before this statement the run started and ended;
-- NULL: no run), h_error and h_output) whose queue has history on: one of
-- the CTE `hq`'s queues (qg_history_queues(), once per statement).
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
-- A record already kept for this id (an earlier life of a job re-inserted
-- by hand with the same id; a revived job's record is deleted when it is
-- revived) is kept, and no new one written: a NOT EXISTS probe, where
-- ON CONFLICT DO UPDATE's speculative insertion cost 4-7% of the s12
-- drain with history on.
AND NOT EXISTS (SELECT 1 FROM qg_job_history AS x WHERE x.job_id = g.job_id)
