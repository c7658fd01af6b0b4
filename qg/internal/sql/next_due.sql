-- qg_next_due: when the earliest future job of queue $1 is due, in seconds
-- by the database's clock (NULL if there is none; dead jobs do not count),
-- the database's clock itself (epoch seconds) and that job's priority. The
-- delay is relative, so that a client whose clock differs from the
-- database's still wakes on time; the clock lets it place NOTIFY payloads'
-- absolute run_at on its own clock. One index probe per priority
-- (qg_next_due() in schema/qg_additions.sql).
-- $1 queue text.
-- prepared by: locker
SELECT due_in, db_now, priority FROM qg_next_due($1::text, '@DEAD_RUN_AT@')
