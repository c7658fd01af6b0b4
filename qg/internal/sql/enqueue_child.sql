-- qg_enqueue_child: enqueues a job that runs after its parents complete
-- (schema function qg_enqueue_child: the row, its edges and the parents'
-- marks in one statement) and returns its id. Not prepared: the function
-- exists only in a migrated schema.
-- $1 queue text, $2 priority smallint, $3 run_at timestamptz (NULL: now(),
-- when every parent has completed already), $4 job_class text, $5 args
-- json, $6 limit_key text (NULL: none), $7 parents bigint[],
-- $8 cancel_on_failure boolean, $9 batch_id bigint (NULL: none).
SELECT qg_enqueue_child($1::text, $2::smallint, $3::timestamptz, $4::text,
                        $5::json, $6::text, $7::bigint[], $8::boolean,
                        $9::bigint)
