-- qg_unlock_job: releases a job's advisory lock; false when this session did
-- not hold it.
-- $1 job_id bigint.
-- prepared by: client
SELECT pg_advisory_unlock($1::bigint)
