-- qg_pending_cancels: the cancel requests no pool has taken yet, for a
-- listener that may have missed their NOTIFY (it was connecting).
SELECT job_id FROM qg_cancellations WHERE acknowledged_at IS NULL
