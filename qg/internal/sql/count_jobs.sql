-- qg_count_jobs: adds finished-job counts to their minute's row of
-- qg_job_counts (throughput history; see schema/qg_additions.sql).
-- $1 minutes timestamptz[], $2 queues text[], $3 job_classes text[],
-- $4 completed bigint[], $5 retried bigint[], $6 dead bigint[],
-- $7 snoozed bigint[], $8 cancelled bigint[].
INSERT INTO qg_job_counts AS c (minute, queue, job_class, completed, retried,
                                dead, snoozed, cancelled)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[],
                     $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                     $8::bigint[])
ON CONFLICT (minute, queue, job_class) DO UPDATE
SET completed = c.completed + excluded.completed,
    retried   = c.retried + excluded.retried,
    dead      = c.dead + excluded.dead,
    snoozed   = c.snoozed + excluded.snoozed,
    cancelled = c.cancelled + excluded.cancelled
