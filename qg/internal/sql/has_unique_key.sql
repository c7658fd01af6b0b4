-- qg_has_unique_key: whether `qg migrate` added what unique jobs and limit
-- keys need: the qg_unique_key column of que_jobs and its partial unique
-- index, and the qg_limit_key column.
SELECT EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = to_regclass('que_jobs')
                 AND attname = 'qg_unique_key' AND NOT attisdropped)
       AND to_regclass('que_jobs_qg_unique_key') IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = to_regclass('que_jobs')
                     AND attname = 'qg_limit_key' AND NOT attisdropped)
