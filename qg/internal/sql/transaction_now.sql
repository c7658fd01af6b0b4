-- qg_transaction_now: the transaction's now() (what a column default would
-- give), for COPY rows without a run_at.
SELECT now()::text
