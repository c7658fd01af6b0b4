-- qg_batch_create: a new open batch; returns its id.
-- $1 description text, $2..$5 the success callback's queue text, priority
-- smallint, job_class text, args json (all NULL: none), $6..$9 the finish
-- callback's (the same).
INSERT INTO qg_batches (description, success_queue, success_priority,
                        success_type, success_args, finish_queue,
                        finish_priority, finish_type, finish_args)
VALUES ($1::text, $2::text, $3::smallint, $4::text, $5::json, $6::text,
        $7::smallint, $8::text, $9::json)
RETURNING batch_id
