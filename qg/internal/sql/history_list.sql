-- qg_history_list: history records, newest finished first (finished_at,
-- then job_id, descending), after the cursor ($6, $7; NULL: from the
-- newest), matching the filters (NULL: any), args and output left out,
-- last_error's first line cut at $9 characters; at most $8 rows. Walks the
-- finished_at index backwards from the cursor.
-- $1 queue text, $2 job_class text, $3 outcome text, $4 finished at or
-- after timestamptz, $5 finished before timestamptz, $6 cursor finished_at
-- timestamptz, $7 cursor job_id bigint, $8 limit int, $9 chars int.
SELECT h.job_id, h.queue, h.priority, h.job_class, NULL::text, 0,
       h.outcome, h.attempts,
       extract(epoch FROM h.enqueued_at), extract(epoch FROM h.first_started_at),
       extract(epoch FROM h.started_at), extract(epoch FROM h.finished_at),
       extract(epoch FROM h.run_time),
       substr(split_part(h.last_error, E'\n', 1), 1, $9::int), 0,
       NULL::text, octet_length(h.output::text),
       h.finished_at::text
FROM qg_job_history AS h
WHERE ($1::text IS NULL OR h.queue = $1::text)
AND   ($2::text IS NULL OR h.job_class = $2::text)
AND   ($3::text IS NULL OR h.outcome = $3::text)
AND   ($4::timestamptz IS NULL OR h.finished_at >= $4::timestamptz)
AND   ($5::timestamptz IS NULL OR h.finished_at < $5::timestamptz)
AND   ($6::timestamptz IS NULL
       OR (h.finished_at, h.job_id) < ($6::timestamptz, $7::bigint))
ORDER BY h.finished_at DESC, h.job_id DESC
LIMIT $8::int
