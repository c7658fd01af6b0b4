-- qg_batch_seal: seals batch $1 (schema function qg_batch_seal: no more
-- jobs; finishes it at once when every job it has is settled).
-- $1 batch_id bigint.
SELECT qg_batch_seal($1::bigint)
