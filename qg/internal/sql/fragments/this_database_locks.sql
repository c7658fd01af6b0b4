-- this_database_locks: the granted advisory locks on job ids (objsubid 1:
-- the single bigint form) held by sessions of THIS database; a lock on the
-- same id in another database is another job's.
FROM pg_locks
WHERE locktype = 'advisory'
AND   objsubid = 1
AND   granted
AND   database = (SELECT oid FROM pg_database
                  WHERE datname = current_database())
