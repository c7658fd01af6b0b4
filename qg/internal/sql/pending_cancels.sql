-- qg_pending_cancels: the cancel requests no pool has taken yet and that
-- still apply (see fragments/live_cancel.sql), for a listener that may have
-- missed their NOTIFY (it was connecting). Left-over requests (expired:
-- their requester was killed) are deleted on the way.
WITH pruned AS (
  DELETE FROM qg_cancellations AS c
  WHERE
  @stale_cancel@
)
SELECT c.job_id
FROM qg_cancellations AS c
WHERE c.acknowledged_at IS NULL
AND
@live_cancel@
