-- qg-cpp's additive changes to Que 0.x's que_jobs: a lock function for the
-- batched worker path, a NOTIFY trigger that wakes idle worker pools, the
-- uniqueness key of unique jobs (one nullable column and a partial unique
-- index) and the records of periodic schedules (a side table).
-- Ruby Que 0.x, que-go and qg keep working on the same table: nothing here
-- changes que_jobs' columns, types, defaults, key or comment, or what a row
-- means; the one added column is nullable without a default, so their
-- INSERTs of Que's columns store NULL there (not unique). Idempotent, and a
-- second run takes no lock on que_jobs for the column and index.

-- Tries the advisory lock of one job and, under a fresh snapshot (a VOLATILE
-- function gets one per statement in READ COMMITTED), checks that the row
-- still exists: another worker may have finished it since the calling
-- statement's snapshot was taken. Never returns with a lock on a row it
-- reports as not locked. STRICT: NULL in, NULL out, no lock.
CREATE OR REPLACE FUNCTION qg_lock_job(q text, p smallint, r timestamptz,
                                       id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
  IF NOT pg_try_advisory_lock(id) THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM que_jobs
             WHERE queue = q AND priority = p AND run_at = r AND job_id = id) THEN
    RETURN true;
  END IF;
  PERFORM pg_advisory_unlock(id);
  RETURN false;
END
$$;

-- One notification per inserting statement and queue (and PostgreSQL folds
-- identical ones within a transaction), never one per row: the payload is
-- "<earliest run_at as epoch seconds>:<lowest priority>\t<queue>", so that a
-- pool holding less urgent jobs knows to look for the new ones at once.
CREATE OR REPLACE FUNCTION qg_notify_jobs()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('qg_jobs',
                    extract(epoch FROM min(run_at))::text || ':' ||
                    min(priority)::text || E'\t' || left(queue, 7000))
  FROM qg_new_jobs
  GROUP BY queue;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS qg_notify_jobs ON que_jobs;
CREATE TRIGGER qg_notify_jobs
  AFTER INSERT ON que_jobs
  REFERENCING NEW TABLE AS qg_new_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION qg_notify_jobs();

-- Unique jobs: the key a job holds while its row exists (NULL: not unique).
-- A row's key is never changed by qg-cpp after the insert; deleting the row
-- (a finished job) frees it. Adding a column without a default only
-- changes the catalog; building the index reads the table once (it blocks
-- writes to que_jobs while it runs, so migrate a large table when it is
-- quiet, or create the same index CONCURRENTLY beforehand). A new column
-- changes what `*` returns: sessions that prepared `RETURNING *` or
-- `SELECT *` on que_jobs before (Ruby Que 0.x does) get "cached plan must
-- not change result type" until they reconnect.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'que_jobs'::regclass
                   AND attname = 'qg_unique_key' AND NOT attisdropped) THEN
    ALTER TABLE que_jobs ADD COLUMN qg_unique_key text;
  END IF;
  IF to_regclass('que_jobs_qg_unique_key') IS NULL THEN
    CREATE UNIQUE INDEX que_jobs_qg_unique_key ON que_jobs (qg_unique_key)
      WHERE qg_unique_key IS NOT NULL;
  END IF;
END
$$;

-- Periodic jobs: one record per schedule name, locked (FOR UPDATE) and
-- updated in the same transaction that enqueues an occurrence's job, so
-- that each occurrence is enqueued once however many processes run the
-- schedule. last_occurrence: the latest occurrence handled; seen_at: when
-- a running enqueuer last had the schedule registered.
CREATE TABLE IF NOT EXISTS qg_periodic (
  name            text        PRIMARY KEY,
  schedule        text        NOT NULL,
  time_zone       text        NOT NULL,
  last_occurrence timestamptz NOT NULL,
  last_job_id     bigint,
  seen_at         timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
