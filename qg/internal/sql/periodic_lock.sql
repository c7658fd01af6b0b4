-- qg_periodic_lock: locks a schedule's record for the rest of the
-- transaction and returns its latest enqueued occurrence. Enqueuers of the
-- same schedule queue up here; each sees what the previous one committed.
-- $1 name text.
SELECT last_occurrence FROM qg_periodic WHERE name = $1::text FOR UPDATE
