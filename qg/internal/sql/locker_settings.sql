-- qg_locker_settings: the locker session runs only qg's statements. Planner
-- statistics of a queue table are often stale (analyzed while empty, then
-- bulk-loaded), and a session keeps the plans it made: rule out plans that
-- sort, bitmap-scan, hash-join or merge-join the whole queue, so the lock
-- query always walks the primary key. (A nested loop may still put the
-- queue on the outside: statements that look up N keys fence each lookup
-- with OFFSET 0 as well.)
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_sort = off;
SET enable_hashjoin = off;
SET enable_mergejoin = off
