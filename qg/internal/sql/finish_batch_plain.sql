-- qg_finish_batch_plain: qg_finish_batch for a pool that saw history off
-- for its queues (the last qg_finish_batch said so): deletes completed
-- jobs by key and returns their ids, in the same statement checking that
-- history is still off for them (fragments/history_off.sql); if it is on
-- now, it deletes nothing and returns -1 alone (the caller then writes
-- them with qg_finish_batch).
-- The rows are looked for first where their lock scans read them ($6,
-- their ctids): one TID scan fetches them all (a TID scan per row costs a
-- system call each, for the relation's size), and a tuple there is
-- deleted if it is visible and is one of the jobs: 1.4 us a row where a
-- primary-key probe and a fetch per row took 6.6. (Matched by id, in one
-- of the batch's queues: the job's row whatever its priority and run_at,
-- as qg_finish_by_id deletes it when a write by key finds the key
-- changed; a row moved to another queue, whose history this statement
-- does not check, is left to that write. Job ids name jobs: Que's
-- advisory locks take two rows of one id for one job.)
-- The rows not found there (updated or moved since, or no ctid known) are
-- looked for by key (fragments/key_probe.sql), in the same statement and
-- snapshot.
-- $1 queues text[], $2 priorities smallint[], $3 run_ats timestamptz[],
-- $4 ids bigint[] (parallel arrays), $5 the distinct queues of $1, text[],
-- $6 row_tids tid[] (parallel to $1: where each row was last read, its
-- ctid; NULL when unknown).
-- prepared by: locker
WITH h AS MATERIALIZED (
  @history_off@
), by_tid AS (
  DELETE FROM que_jobs AS j
  USING h
  -- (+ 0 and || '': conditions no index takes. Only the TID scan reads
  -- the table, whatever the statistics said when the plan was made: with
  -- an index condition on job_id or queue, a plan made while the queue
  -- looked empty walks the primary key.)
  WHERE j.ctid = ANY ($6::tid[]) AND j.job_id + 0 = ANY ($4::bigint[])
  AND j.queue || '' = ANY ($5::text[]) AND h.off
  RETURNING j.job_id
), by_key AS (
  DELETE FROM que_jobs AS j
  USING (
    SELECT y.row_ctid
    FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::bigint[])
      AS k(queue, priority, run_at, job_id),
    @key_probe@
    -- (Unnested again only when some row was not where it was read.)
    WHERE (SELECT h.off FROM h)
    AND (SELECT count(*) FROM by_tid) < cardinality($4::bigint[])
    AND k.job_id NOT IN (SELECT b.job_id FROM by_tid AS b)
  ) AS k, h
  WHERE j.ctid = k.row_ctid AND h.off
  RETURNING j.job_id
)
SELECT job_id FROM by_tid
UNION ALL
SELECT job_id FROM by_key
UNION ALL
SELECT -1 FROM h WHERE NOT h.off
