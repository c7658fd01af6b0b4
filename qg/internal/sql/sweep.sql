-- qg_sweep: the fast path's sweep (qg_sweep() in schema/qg_additions.sql):
-- up to $5 runnable jobs of queue $1 before the cursor ($2, $3, $4) that
-- nobody holds, looking at no more than $6 candidates, holding nothing;
-- then a row with job_id NULL and qg_next_due()'s answer (due_in,
-- db_now, due_priority). A NULL cursor: only that last row.
-- $1 queue text, $2 before_priority smallint, $3 before_run_at timestamptz,
-- $4 before_job_id bigint, $5 want int, $6 max_scan int.
-- prepared by: locker
SELECT priority, run_at, job_id, due_in, db_now, due_priority
FROM qg_sweep($1::text, $2::smallint, $3::timestamptz, $4::bigint, $5::int,
              $6::int, '@DEAD_RUN_AT@')
