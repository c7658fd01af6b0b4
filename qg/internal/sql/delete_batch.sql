-- qg_delete_batch: deletes finished jobs by key and returns the ids it
-- deleted; an id it did not return had its key changed while it ran (the
-- caller then uses qg_delete_by_id) or was deleted by someone else.
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[],
-- $4 ids bigint[] (parallel arrays).
DELETE FROM que_jobs AS j
USING (
  SELECT y.row_ctid
  FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[])
    AS k(queue, priority, run_at, job_id),
  @key_probe@
) AS k
WHERE j.ctid = k.row_ctid
RETURNING j.job_id
