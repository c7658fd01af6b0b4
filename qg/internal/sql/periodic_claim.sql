-- qg_periodic_claim: creates the record of a periodic schedule the first
-- time any enqueuer sees it, with its latest occurrence counted as done (a
-- new schedule starts with its next occurrence). Returns the row when it
-- was created by this call, nothing when it existed already.
-- $1 name text, $2 schedule text, $3 time_zone text,
-- $4 last_occurrence timestamptz.
INSERT INTO qg_periodic (name, schedule, time_zone, last_occurrence)
VALUES ($1::text, $2::text, $3::text, $4::timestamptz)
ON CONFLICT (name) DO NOTHING
RETURNING last_occurrence
