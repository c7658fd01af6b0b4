-- set_error_columns: error_columns for one job, from qg_set_error's
-- parameters $1 error_count, $2 delay and $3 message.
SET error_count = $1::integer,
    run_at      = CASE WHEN $2::float8 = 'Infinity'::float8
                       THEN '@DEAD_RUN_AT@'::timestamptz
                       ELSE now() + $2::float8 * '1 second'::interval END,
    last_error  = $3::text
