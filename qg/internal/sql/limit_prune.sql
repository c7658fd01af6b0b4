-- qg_limit_prune: deletes rate state that no longer matters (a bucket's
-- tat more than a period ago means the same as no row).
DELETE FROM qg_limit_rates AS x USING qg_limits AS m
WHERE x.name = m.name AND x.tat < now() - m.rate_period
