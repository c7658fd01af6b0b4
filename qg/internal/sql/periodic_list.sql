-- qg_periodic_list: every schedule's record, by name, with whether an
-- enqueuer has marked it registered within the last $1 seconds (measured on
-- the database's clock).
-- $1 registered_within float8 (seconds).
SELECT name, schedule, time_zone, last_occurrence, last_job_id, seen_at,
       updated_at,
       seen_at > now() - $1::float8 * interval '1 second' AS recent
FROM qg_periodic
ORDER BY name
