-- qg_has_periodic_table: whether `qg migrate` created qg_periodic, the
-- records periodic jobs need.
SELECT to_regclass('qg_periodic') IS NOT NULL
