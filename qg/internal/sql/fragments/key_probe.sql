-- key_probe: for each key k the statement unnests, the row of que_jobs with
-- that key, as y.row_ctid (none if it is gone): one primary-key probe per
-- key. OFFSET 0 keeps the planner from flattening the lookup into a join,
-- which, with statistics that say the queue is empty (analyzed while it was,
-- or while most of its rows were dead), walks the whole index per call.
LATERAL (SELECT x.ctid AS row_ctid FROM que_jobs AS x
         WHERE x.queue = k.queue AND x.priority = k.priority
         AND x.run_at = k.run_at AND x.job_id = k.job_id
         OFFSET 0) AS y
