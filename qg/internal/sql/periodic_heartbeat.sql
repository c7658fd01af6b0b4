-- qg_periodic_heartbeat: marks schedules as registered by a running
-- enqueuer (what the listing's `registered` is computed from).
-- $1 names text[].
UPDATE qg_periodic SET seen_at = now() WHERE name = ANY($1::text[])
