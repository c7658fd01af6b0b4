-- qg_limit_may_prune: whether this role may delete from qg_limit_rates (a
-- read-only role, a console's, lists limits without pruning).
SELECT has_table_privilege('qg_limit_rates', 'DELETE')
