-- key_match: the rows of que_jobs (j) whose key (queue, priority, run_at,
-- job_id) is one of the keys k the statement unnests: how the batched
-- statements find the jobs they were given, an index lookup each.
WHERE j.queue = k.queue
AND   j.priority = k.priority
AND   j.run_at = k.run_at
AND   j.job_id = k.job_id
