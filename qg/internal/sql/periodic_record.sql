-- qg_periodic_record: records, in the transaction that enqueued it, the
-- latest occurrence handled and the job stored for it.
-- $1 name text, $2 last_occurrence timestamptz, $3 last_job_id bigint (NULL:
-- keep the previous one), $4 schedule text, $5 time_zone text.
UPDATE qg_periodic
SET last_occurrence = $2::timestamptz,
    last_job_id = coalesce($3::bigint, last_job_id),
    schedule = $4::text,
    time_zone = $5::text,
    seen_at = now(),
    updated_at = now()
WHERE name = $1::text
