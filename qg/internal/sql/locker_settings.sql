-- qg_locker_settings: the locker session runs only qg's statements. Planner
-- statistics of a queue table are often stale (analyzed while empty, then
-- bulk-loaded): rule out plans that sort or bitmap-scan the whole queue to
-- find its first N jobs, so the lock query always walks the primary key.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_sort = off
