-- qg_history_get: the history record of job $1 (none: no record), args,
-- last_error and output cut at $2 characters, with their sizes in bytes.
-- $1 job_id bigint, $2 the most characters, int.
SELECT h.job_id, h.queue, h.priority, h.job_class,
       substr(h.args::text, 1, $2::int), octet_length(h.args::text),
       h.outcome, h.attempts,
       extract(epoch FROM h.enqueued_at), extract(epoch FROM h.first_started_at),
       extract(epoch FROM h.started_at), extract(epoch FROM h.finished_at),
       extract(epoch FROM h.run_time),
       substr(h.last_error, 1, $2::int), octet_length(h.last_error),
       substr(h.output::text, 1, $2::int), octet_length(h.output::text)
FROM qg_job_history AS h
WHERE h.job_id = $1::bigint
