-- qg_history_set_default: the default history setting and retention; a
-- NULL $1, a false $2 or a false $4 leaves that part as it is (or at its
-- stated default).
-- $1 all_queues boolean, $2 set keep boolean, $3 keep seconds float8 (NULL:
-- no bound), $4 set max boolean, $5 max_records bigint (NULL: no bound).
INSERT INTO qg_history_settings AS s (singleton, all_queues, keep,
                                      max_records, updated_at)
VALUES (true, coalesce($1::boolean, false),
        CASE WHEN $2::boolean THEN $3::float8 * interval '1 second'
             ELSE interval '7 days' END,
        CASE WHEN $4::boolean THEN $5::bigint ELSE 1000000 END, now())
ON CONFLICT (singleton) DO UPDATE
SET all_queues = coalesce($1::boolean, s.all_queues),
    keep = CASE WHEN $2::boolean THEN $3::float8 * interval '1 second'
                ELSE s.keep END,
    max_records = CASE WHEN $4::boolean THEN $5::bigint
                       ELSE s.max_records END,
    updated_at = now()
