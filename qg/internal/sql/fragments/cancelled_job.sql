-- cancelled_job: whether row j is a job an operator cancelled: kept like a
-- dead job (run_at at the dead run_at) with a last_error that starts with
-- "qg: cancelled" (kCancelledMarker in qg/job_end.h). A cancelled job is
-- not a dead one: bulk retries leave it.
(j.run_at >= '@DEAD_RUN_AT@'
 AND coalesce(j.last_error LIKE 'qg: cancelled%', false))
