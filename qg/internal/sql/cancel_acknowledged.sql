-- qg_cancel_acknowledged: whether the holder of job $1 took the cancel
-- request, and whether the request still applies (see
-- fragments/live_cancel.sql; false once the run it was asked of ended). No
-- row: there is no request.
-- $1 job_id bigint.
SELECT c.acknowledged_at IS NOT NULL AS acknowledged,
       @live_cancel@
         AS live
FROM qg_cancellations AS c
WHERE c.job_id = $1::bigint
