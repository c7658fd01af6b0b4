-- qg_migrate_lock: serializes concurrent `qg migrate` runs (say, several
-- deploys at once) for the rest of the transaction. The two-key form, so that
-- it never collides with a job's lock (one bigint key, objsubid 1).
SELECT pg_advisory_xact_lock(20914, 3)
