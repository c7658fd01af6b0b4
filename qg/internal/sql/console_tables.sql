-- qg_console_tables: which of the optional tables the web console reads
-- exist: qg_queues (pause state) and qg_job_counts (throughput history).
-- A database without them (not migrated, or older) still gets a console.
SELECT now()                                    AS db_now,
       to_regclass('qg_queues') IS NOT NULL     AS has_queues,
       to_regclass('qg_job_counts') IS NOT NULL AS has_counts
