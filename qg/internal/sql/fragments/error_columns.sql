-- error_columns: what recording a failure writes, from the unnested k:
-- error_count, run_at = now() + delay (the dead run_at when the delay is
-- 'Infinity') and last_error.
SET error_count = k.error_count,
    run_at      = CASE WHEN k.delay = 'Infinity'::float8
                       THEN '@DEAD_RUN_AT@'::timestamptz
                       ELSE now() + k.delay * '1 second'::interval END,
    last_error  = k.message
