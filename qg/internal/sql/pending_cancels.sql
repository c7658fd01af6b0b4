-- qg_pending_cancels: the cancel requests no pool has taken yet and that
-- still apply (see fragments/live_cancel.sql), for a listener that may have
-- missed their NOTIFY (it was connecting). Read only: a worker's role may
-- read and update qg_cancellations, no more (left-over requests are deleted
-- by qg_request_cancel, an operator's statement).
SELECT c.job_id
FROM qg_cancellations AS c
WHERE c.acknowledged_at IS NULL
AND
@live_cancel@
