-- qg_limit_may_prune: whether this session may delete from qg_limit_rates
-- (a read-only role, a console's, a standby or a read-only transaction
-- lists limits without pruning).
SELECT has_table_privilege('qg_limit_rates', 'DELETE')
       AND NOT pg_is_in_recovery()
       AND current_setting('transaction_read_only') = 'off'
