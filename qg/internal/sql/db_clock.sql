-- qg_db_clock: the database's clock (now(), in epoch seconds), as the
-- statements that compare run_at with now() see it. A locker session reads
-- it when it opens, to place the run_at of a NOTIFY on its own clock before
-- its first sweep answers.
SELECT extract(epoch FROM now())::float8 AS db_now
