-- qg_finish_batch_plain: qg_finish_batch for a pool that saw history off
-- for its queues (the last qg_finish_batch said so): deletes completed
-- jobs by key and returns their ids, in the same statement checking that
-- history is still off for them (fragments/history_off.sql); if it is on
-- now, it deletes nothing and returns -1 alone (the caller then writes
-- them with qg_finish_batch).
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[],
-- $4 ids bigint[] (parallel arrays), $5 the distinct queues of $1, text[].
-- prepared by: locker
WITH h AS MATERIALIZED (
  @history_off@
), gone AS (
  DELETE FROM que_jobs AS j
  USING (
    SELECT y.row_ctid
    FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[])
      AS k(queue, priority, run_at, job_id),
    @key_probe@
  ) AS k, h
  WHERE j.ctid = k.row_ctid AND h.off
  RETURNING j.job_id
)
SELECT job_id FROM gone
UNION ALL
SELECT -1 FROM h WHERE NOT h.off
