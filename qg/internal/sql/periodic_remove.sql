-- qg_periodic_remove: forgets a schedule's record (its jobs stay).
-- $1 name text.
DELETE FROM qg_periodic WHERE name = $1::text
