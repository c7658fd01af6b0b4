-- qg-cpp's additive changes to Que 0.x's que_jobs: a lock function for the
-- batched worker path and a NOTIFY trigger that wakes idle worker pools.
-- Ruby Que 0.x, que-go and qg keep working on the same table: nothing here
-- changes que_jobs' columns, keys or comment. Idempotent.

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
