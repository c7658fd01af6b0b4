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

-- The fast path's lock: locks up to `want` runnable jobs (run_at <= now()) of
-- queue `q` in (priority, run_at, job_id) order and returns them, then one
-- summary row (locked = false).
--
-- Where it looks: a pool keeps a cursor, the key of the last job its scans
-- looked at (`after_*`), and continues after it, instead of walking again
-- the index entries of rows it already finished (which vacuum may not have
-- removed yet, e.g. while a long transaction holds it back). When something
-- may have appeared behind the cursor (a job inserted by a transaction that
-- committed late, a more urgent one, a released one) the pool also passes a
-- rewind key (`rewind_*`): the scan first covers the range after the rewind
-- key up to the cursor, then continues after the cursor. NULL keys: no
-- rewind; from the head. Within a priority it scans run_at <= now() only and
-- reaches the next priority with one index probe, so future jobs are never
-- walked.
--
-- Ids in `held` (jobs the calling session holds: session advisory locks are
-- re-entrant) are skipped. Each candidate is try-locked; the locked ones are
-- re-checked under a fresh snapshot (a VOLATILE function gets one per
-- statement) and a row another worker finished meanwhile is unlocked and
-- left out. It looks at no more than `max_scan` candidates. A paused queue
-- (qg_queues) locks nothing. Never returns with a lock on a row it does not
-- return.
--
-- The summary row: `scanned` (candidates looked at), `exhausted` (the scan
-- after the cursor reached the end of the runnable jobs), `paused`, in
-- priority/run_at/job_id the key of the last candidate looked at after the
-- cursor (the new cursor; NULL if none), and in rewind_* the key where an
-- unfinished rewind stopped (NULL when the rewind range was covered).
DROP FUNCTION IF EXISTS qg_lock_jobs(text, int, bigint[], int, smallint,
                                     timestamptz, bigint);
DROP FUNCTION IF EXISTS qg_lock_jobs(text, int, bigint[], int, smallint,
                                     timestamptz, bigint, smallint,
                                     timestamptz, bigint);
CREATE FUNCTION qg_lock_jobs(q text, want int, held bigint[], max_scan int,
                             after_p smallint, after_r timestamptz,
                             after_id bigint, rewind_p smallint,
                             rewind_r timestamptz, rewind_id bigint)
RETURNS TABLE (queue text, priority smallint, run_at timestamptz,
               job_id bigint, job_class text, args json,
               error_count integer, last_error text, locked boolean,
               scanned integer, exhausted boolean, paused boolean,
               rewind_priority smallint, rewind_run_at timestamptz,
               rewind_job_id bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  p smallint;
  r timestamptz;
  i bigint;
  bp smallint;  -- the range's upper bound (the cursor), in the rewind pass
  due timestamptz := now();
  n_locked int := 0;
  n_scanned int := 0;
  stopped_in int := 0;  -- the pass that reached want or max_scan
  last_p smallint;
  last_r timestamptz;
  last_i bigint;
  rw_p smallint;
  rw_r timestamptz;
  rw_i bigint;
  got_p smallint[] := '{}';
  got_r timestamptz[] := '{}';
  got_i bigint[] := '{}';
  found_i bigint[] := '{}';
  c record;
BEGIN
  IF EXISTS (SELECT 1 FROM qg_queues AS s WHERE s.queue = q AND s.paused) THEN
    locked := false; scanned := 0; exhausted := true; paused := true;
    RETURN NEXT;
    RETURN;
  END IF;
  <<passes>>
  FOR pass IN 1..2 LOOP
    IF pass = 1 THEN
      -- The rewind: from the rewind key up to the cursor.
      CONTINUE WHEN rewind_p IS NULL OR after_p IS NULL;
      p := rewind_p; r := rewind_r; i := rewind_id; bp := after_p;
    ELSE
      p := after_p; r := after_r; i := after_id; bp := NULL;
      IF p IS NULL THEN
        SELECT min(j.priority) INTO p FROM que_jobs AS j WHERE j.queue = q;
        r := '-infinity';
        i := -9223372036854775808;
      END IF;
    END IF;
    WHILE p IS NOT NULL AND (bp IS NULL OR p <= bp) LOOP
      FOR c IN
        SELECT j.run_at, j.job_id
        FROM que_jobs AS j
        WHERE j.queue = q AND j.priority = p AND j.run_at <= due
        AND (j.run_at, j.job_id) > (r, i)
        ORDER BY j.run_at, j.job_id
      LOOP
        EXIT WHEN bp IS NOT NULL AND p = bp
                  AND (c.run_at, c.job_id) > (after_r, after_id);
        n_scanned := n_scanned + 1;
        IF pass = 1 THEN
          rw_p := p; rw_r := c.run_at; rw_i := c.job_id;
        ELSE
          last_p := p; last_r := c.run_at; last_i := c.job_id;
        END IF;
        IF NOT (c.job_id = ANY (held)) AND pg_try_advisory_lock(c.job_id) THEN
          got_p := got_p || p;
          got_r := got_r || c.run_at;
          got_i := got_i || c.job_id;
          n_locked := n_locked + 1;
        END IF;
        IF n_locked >= want OR n_scanned >= max_scan THEN
          stopped_in := pass;
          EXIT passes;
        END IF;
      END LOOP;
      SELECT min(j.priority) INTO p FROM que_jobs AS j
      WHERE j.queue = q AND j.priority > p;
      r := '-infinity';
      i := -9223372036854775808;
    END LOOP;
  END LOOP;
  -- Re-check under a fresh snapshot (a VOLATILE function gets one per
  -- statement): a row another worker finished between the scan's snapshot
  -- and our lock is gone; release it.
  -- (One index probe per locked key: OFFSET 0 keeps the planner from
  -- flattening the LATERAL subquery into a join, which, planned while the
  -- statistics said the queue was empty, reads the whole queue each call:
  -- a session keeps its plans. Rows come back in scan order.)
  FOR c IN
    SELECT x.queue, x.priority, x.run_at, x.job_id, x.job_class, x.args,
           x.error_count, x.last_error
    FROM unnest(got_p, got_r, got_i) AS k(p, r, id),
    LATERAL (SELECT * FROM que_jobs AS y
             WHERE y.queue = q AND y.priority = k.p AND y.run_at = k.r
             AND y.job_id = k.id
             OFFSET 0) AS x
  LOOP
    queue := c.queue; priority := c.priority; run_at := c.run_at;
    job_id := c.job_id; job_class := c.job_class; args := c.args;
    error_count := c.error_count; last_error := c.last_error;
    locked := true; scanned := NULL; exhausted := NULL; paused := NULL;
    rewind_priority := NULL; rewind_run_at := NULL; rewind_job_id := NULL;
    RETURN NEXT;
    found_i := found_i || c.job_id;
  END LOOP;
  IF cardinality(found_i) < n_locked THEN
    PERFORM pg_advisory_unlock(id)
    FROM unnest(got_i) AS id
    WHERE NOT (id = ANY (found_i));
  END IF;
  queue := NULL; priority := last_p; run_at := last_r; job_id := last_i;
  job_class := NULL; args := NULL; error_count := NULL; last_error := NULL;
  locked := false; scanned := n_scanned; exhausted := stopped_in = 0;
  paused := false;
  IF stopped_in = 1 THEN
    rewind_priority := rw_p; rewind_run_at := rw_r; rewind_job_id := rw_i;
  ELSE
    rewind_priority := NULL; rewind_run_at := NULL; rewind_job_id := NULL;
  END IF;
  RETURN NEXT;
END
$$;

-- When the next future job of queue `q` is due: seconds from the database's
-- now() (NULL if none; dead jobs, run_at `dead` and later, do not count), the
-- database's clock (epoch seconds), and that job's priority. One index probe
-- per priority, whatever the number of future jobs.
CREATE OR REPLACE FUNCTION qg_next_due(q text, dead timestamptz)
RETURNS TABLE (due_in float8, db_now float8, priority smallint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  p smallint;
  r timestamptz;
  best_r timestamptz;
  best_p smallint;
  t timestamptz := now();
BEGIN
  SELECT min(j.priority) INTO p FROM que_jobs AS j WHERE j.queue = q;
  WHILE p IS NOT NULL LOOP
    SELECT j.run_at INTO r FROM que_jobs AS j
    WHERE j.queue = q AND j.priority = p AND j.run_at > t
    AND j.run_at < dead
    ORDER BY j.run_at LIMIT 1;
    IF r IS NOT NULL AND (best_r IS NULL OR r < best_r) THEN
      best_r := r;
      best_p := p;
    END IF;
    SELECT min(j.priority) INTO p FROM que_jobs AS j
    WHERE j.queue = q AND j.priority > p;
  END LOOP;
  due_in := extract(epoch FROM best_r - t);
  db_now := extract(epoch FROM t);
  priority := best_p;
  RETURN NEXT;
END
$$;

-- The fast path's sweep, run on a connection of its own beside the locker so
-- that its walk from the head of the queue never delays a lock round trip:
-- up to `want` runnable jobs of queue `q` that sort before the pool's
-- cursor (before_p, before_r, before_id) and that nobody holds (a job
-- whose worker died, one another pool gave back), looking at no more than
-- `max_scan` candidates; each is try-locked and released at once, so the
-- sweep holds nothing. It leaves alone jobs due less than a second ago:
-- those the locker is about to take (a NOTIFY of a late-committing insert
-- sends it back for them), and a try-lock of the sweep at that instant
-- would make it skip one. Then one row (job_id NULL) with what qg_next_due()
-- says. A NULL cursor: only the next due time. Walking from the head costs
-- one visit per index entry of a finished row that vacuum has not removed
-- yet (a long transaction elsewhere can hold that back for hours): that is
-- why it runs apart from the locker.
DROP FUNCTION IF EXISTS qg_sweep(text, smallint, timestamptz, bigint, int,
                                 int, timestamptz);
CREATE FUNCTION qg_sweep(q text, before_p smallint, before_r timestamptz,
                         before_id bigint, want int, max_scan int,
                         dead timestamptz)
RETURNS TABLE (priority smallint, run_at timestamptz, job_id bigint,
               due_in float8, db_now float8, due_priority smallint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  p smallint;
  n_found int := 0;
  n_scanned int := 0;
  due timestamptz := now();
  c record;
BEGIN
  IF before_p IS NOT NULL THEN
    SELECT min(j.priority) INTO p FROM que_jobs AS j WHERE j.queue = q;
    <<priorities>>
    WHILE p IS NOT NULL AND p <= before_p LOOP
      FOR c IN
        SELECT j.run_at, j.job_id
        FROM que_jobs AS j
        WHERE j.queue = q AND j.priority = p
        AND j.run_at <= due - interval '1 second'
        ORDER BY j.run_at, j.job_id
      LOOP
        EXIT priorities WHEN p = before_p
                        AND (c.run_at, c.job_id) > (before_r, before_id);
        n_scanned := n_scanned + 1;
        IF pg_try_advisory_lock(c.job_id) THEN
          PERFORM pg_advisory_unlock(c.job_id);
          priority := p; run_at := c.run_at; job_id := c.job_id;
          due_in := NULL; db_now := NULL; due_priority := NULL;
          RETURN NEXT;
          n_found := n_found + 1;
        END IF;
        EXIT priorities WHEN n_found >= want OR n_scanned >= max_scan;
      END LOOP;
      SELECT min(j.priority) INTO p FROM que_jobs AS j
      WHERE j.queue = q AND j.priority > p;
    END LOOP;
  END IF;
  SELECT n.due_in, n.db_now, n.priority INTO due_in, db_now, due_priority
  FROM qg_next_due(q, dead) AS n;
  priority := NULL; run_at := NULL; job_id := NULL;
  RETURN NEXT;
END
$$;

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

-- Throughput history for consoles and dashboards: jobs finished per minute,
-- queue and job class, by how they ended. Worker processes add their counts
-- about once a second (never once per job), so the table stays small:
-- rows older than a week are deleted by the same writers.
CREATE TABLE IF NOT EXISTS qg_job_counts (
  minute    timestamptz NOT NULL,
  queue     text        NOT NULL,
  job_class text        NOT NULL,
  completed bigint      NOT NULL DEFAULT 0,
  retried   bigint      NOT NULL DEFAULT 0,
  dead      bigint      NOT NULL DEFAULT 0,
  snoozed   bigint      NOT NULL DEFAULT 0,
  cancelled bigint      NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, queue, job_class)
);

-- Queue control: a paused queue's qg-cpp pools lock no new jobs (Ruby Que
-- 0.x, que-go and qg workers do not know of it and keep working it).
CREATE TABLE IF NOT EXISTS qg_queues (
  queue      text        PRIMARY KEY,
  paused     boolean     NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Cancel requests for jobs a worker holds: the holding qg-cpp pool
-- acknowledges the request (it then asks the handler to stop and records
-- the job as cancelled); a request nobody acknowledges is withdrawn.
-- holder_pid: the session that acknowledged it.
CREATE TABLE IF NOT EXISTS qg_cancellations (
  job_id          bigint      PRIMARY KEY,
  requested_at    timestamptz NOT NULL DEFAULT now(),
  acknowledged_at timestamptz,
  holder_pid      integer
);

-- A cancel request belongs to one run of one job, and lives no longer than
-- its requester waits: run_holder_pid is the session that held the job's
-- advisory lock when it was asked, run_queue/run_priority/run_run_at the
-- job's key then; pools honour it only while that session still holds the
-- job, the key is unchanged and expires_at has not passed. Requests written
-- by an earlier qg-cpp (these columns NULL) are honoured by no pool of this
-- one. Nullable, no default: adding them only changes the catalog, and a
-- second run takes no lock.
DO $$
DECLARE
  col text;
  typ text;
BEGIN
  FOR col, typ IN VALUES ('run_holder_pid', 'integer'), ('run_queue', 'text'),
                         ('run_priority', 'smallint'),
                         ('run_run_at', 'timestamptz'),
                         ('expires_at', 'timestamptz') LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'qg_cancellations'::regclass
                     AND attname = col AND NOT attisdropped) THEN
      EXECUTE format('ALTER TABLE qg_cancellations ADD COLUMN %I %s', col,
                     typ);
    END IF;
  END LOOP;
END
$$;
