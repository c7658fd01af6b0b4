-- qg_periodic_now: the database's clock, the one clock every enqueuer of
-- periodic jobs decides due occurrences by (whatever its host's clock says).
-- clock_timestamp(), not now(): inside the record's transaction it is read
-- after the row lock was granted, later than any record a correct enqueuer
-- committed before.
SELECT clock_timestamp()::text AS db_now
