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

-- Flow control: concurrency and rate limits that qg-cpp pools honour (Ruby
-- Que 0.x, que-go and qg workers do not know of them). One row per limit:
-- it applies to the jobs of `queue` (NULL: every queue) and `job_class`
-- (NULL: every type), per bucket: one bucket for all of them (key_by
-- 'none'), one per explicit key (key_by 'job': que_jobs.qg_limit_key; a job
-- without one is not limited), or one per value of the args fields
-- `key_args` (key_by 'args': top-level members of an object args, or of
-- the first element of an array args). `concurrency`: at most this many of
-- a bucket's jobs held by workers at once, across every pool on the
-- database, or per pool when `per_pool`; each held job holds one of the
-- bucket's slot locks (session advisory locks), released with the job's
-- own lock or with its session. `rate`: at most `rate` starts per
-- `rate_period` per bucket, across every pool (GCRA on the database's
-- clock, one start per rate_period/rate on a schedule that a start late by
-- less than one interval keeps, with up to `rate_burst` at once; in any
-- window of length rate_period at most rate + rate_burst). `slots_high`:
-- the highest concurrency the limit had while jobs may still hold its
-- slots (a lowered limit waits for the slots above it).
CREATE TABLE IF NOT EXISTS qg_limits (
  name        text        PRIMARY KEY,
  queue       text,
  job_class   text,
  key_by      text        NOT NULL DEFAULT 'none',
  key_args    text[]      NOT NULL DEFAULT '{}',
  concurrency integer,
  per_pool    boolean     NOT NULL DEFAULT false,
  rate        integer,
  rate_period interval,
  rate_burst  integer     NOT NULL DEFAULT 1,
  slots_high  integer     NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT qg_limits_key_by CHECK (key_by IN ('none', 'job', 'args')),
  CONSTRAINT qg_limits_some CHECK (concurrency IS NOT NULL OR rate IS NOT NULL),
  CONSTRAINT qg_limits_concurrency
    CHECK (concurrency IS NULL OR concurrency BETWEEN 0 AND 1000),
  CONSTRAINT qg_limits_rate
    CHECK ((rate IS NULL) = (rate_period IS NULL)
           AND (rate IS NULL OR (rate > 0 AND rate_period > interval '0'))),
  CONSTRAINT qg_limits_burst CHECK (rate_burst BETWEEN 1 AND 1000000)
);

-- The lock scan looks up a queue's limits by queue (and those of every
-- queue, queue NULL): an index, so that it is two probes.
CREATE INDEX IF NOT EXISTS qg_limits_queue ON qg_limits (queue);

-- The limits on queue `q` (its own and those of every queue), NULL when
-- none: two index probes (a locker session disables sequential scans, and
-- the cost that puts on a scan would have every call JIT-compiled).
-- VOLATILE: read under the caller's latest snapshot.
-- (PL/pgSQL: a session plans it once; an SQL function that is not inlined
-- is planned on every call, a cost every lock scan would pay.)
DROP FUNCTION IF EXISTS qg_queue_limits(text);
CREATE FUNCTION qg_queue_limits(q text)
RETURNS qg_limits[]
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN (SELECT array_agg(t.l)
          FROM (SELECT m AS l FROM qg_limits AS m WHERE m.queue = q
                UNION ALL
                SELECT m AS l FROM qg_limits AS m WHERE m.queue IS NULL) AS t);
END
$$;

-- Rate limits' state: per limit and bucket, the GCRA's theoretical arrival
-- time (a start is allowed at t when t >= tat - (rate_burst - 1) * T, T =
-- rate_period / rate; it moves tat to max(tat, t - T) + T: a start that
-- comes less than T after its due time keeps the schedule, so the lag of
-- the pools' round trips does not slow the rate down; in return any window
-- of length rate_period may hold one start more than rate + rate_burst -
-- 1). A row whose tat has passed by T allows a start at once, as no row
-- does (and one more right after it, within the bound above); `qg limits`
-- prunes those.
CREATE TABLE IF NOT EXISTS qg_limit_rates (
  name text        NOT NULL,
  key  text        NOT NULL,
  tat  timestamptz NOT NULL,
  PRIMARY KEY (name, key)
);

-- The explicit limit key of a job (NewJob::limit_key), for limits with
-- key_by 'job'. Nullable, no default: adding it only changes the catalog.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'que_jobs'::regclass
                   AND attname = 'qg_limit_key' AND NOT attisdropped) THEN
    ALTER TABLE que_jobs ADD COLUMN qg_limit_key text;
  END IF;
END
$$;

-- The bucket of a job with args `ja` under a limit keyed by its args
-- fields `key_args`: the JSON array of those fields' values (of the first
-- element when the args are an array, as Que's are). Each value as jsonb:
-- the same value written two ways ("a" and "\u0061", key order and spacing
-- in objects) is one bucket.
CREATE OR REPLACE FUNCTION qg_limit_bucket_args(key_args text[], ja json)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  parts text[] := '{}';
  base json;
  f text;
BEGIN
  base := CASE WHEN json_typeof(ja) = 'array' THEN ja -> 0 ELSE ja END;
  FOREACH f IN ARRAY key_args LOOP
    parts := parts || coalesce((base -> f)::jsonb::text, 'null');
  END LOOP;
  RETURN '[' || array_to_string(parts, ',') || ']';
END
$$;

-- A job's bucket of limit `l`: its explicit key, or the JSON array of its
-- args fields (qg_limit_bucket_args()); '' for a limit without keys; NULL
-- when `l` does not apply (another type, or key_by 'job' and no key).
-- (SQL, IMMUTABLE throughout: the planner inlines it into the caller's
-- expression, where a function call would cost more than the bucket. It
-- runs once per candidate and limit. A single args field, the common case,
-- is done inline, the same as qg_limit_bucket_args() does it.)
DROP FUNCTION IF EXISTS qg_limit_bucket(qg_limits, text, json, text);
CREATE FUNCTION qg_limit_bucket(l qg_limits, jc text, ja json, jk text)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN l.job_class IS NOT NULL AND l.job_class IS DISTINCT FROM jc THEN NULL
    WHEN l.key_by = 'none' THEN ''
    WHEN l.key_by = 'job' THEN jk
    WHEN cardinality(l.key_args) = 1 THEN
      '[' || coalesce(((CASE WHEN json_typeof(ja) = 'array' THEN ja -> 0
                             ELSE ja END) -> l.key_args[1])::jsonb::text,
                      'null') || ']'
    ELSE qg_limit_bucket_args(l.key_args, ja)
  END
$$;

-- The advisory lock key of slot `slot` of a bucket: a 64-bit hash with the
-- sign bit set (Que's job locks are positive job ids, so the two never
-- meet). `scope` is 0 for global limits, the pool's id for per-pool ones.
-- (Numbers cast to text explicitly: `int || text` is only STABLE, which
-- kept this IMMUTABLE function from being inlined, and a call that is not
-- inlined costs more than the hash. The string, so the key, is the same.)
CREATE OR REPLACE FUNCTION qg_limit_lock_key(name text, bucket text,
                                             scope bigint, slot int)
RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
  SELECT hashtextextended(length(name)::text || ':' || name || '|'
                          || scope::text || '|' || slot::text || '|'
                          || bucket, 0)
         | (-9223372036854775807 - 1)
$$;

-- Admits one job (type jc, args ja, explicit key jk), locked by the caller,
-- under the limits `lims`: takes one token of each rate limit's bucket,
-- then one free slot lock of each concurrency limit's bucket (never one in
-- `held`: advisory locks are re-entrant, so a slot the session holds would
-- be taken twice). Returns the slot locks taken, or NULL locks when a
-- limit holds the job back (nothing kept then: slots released, tokens
-- given back), with `blocked` the bucket ("name\nbucket") and, for a rate
-- limit, `retry_in` (seconds until its next token). A bucket that is a key
-- of `skip` (found full earlier in the same scan; a jsonb object, whose
-- key lookup stays fast with a thousand full buckets) holds the job back
-- without trying. Each bucket is computed once per call.
DROP FUNCTION IF EXISTS qg_limit_admit(qg_limits[], text, json, text, bigint,
                                       bigint[], text[]);
DROP FUNCTION IF EXISTS qg_limit_admit(qg_limits[], text, json, text, bigint,
                                       bigint[], jsonb);
-- Also says whether a pool may hand the job's slot on (`hand_bucket`, the
-- bucket's hash, and `hand_key`, "name\nbucket", set when exactly one
-- limit applies to the job, a concurrency limit without a rate, not being
-- lowered) and, for such a job held back by a full bucket, whether the
-- session holds one of the bucket's slots (`mine`; NULL when not tried).
CREATE FUNCTION qg_limit_admit(lims qg_limits[], jc text, ja json, jk text,
                               scope bigint, held bigint[], skip jsonb,
                               OUT locks bigint[], OUT blocked text,
                               OUT retry_in float8, OUT hand_bucket bigint,
                               OUT hand_key text, OUT mine boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  applying int := 0;
  only_l qg_limits;
  l qg_limits;
  bs text[] := '{}';  -- per limit (in lims order): the job's bucket
  b text;
  n int;
  off int;
  k bigint;
  k2 bigint;
  sc bigint;
  ok boolean;
  t timestamptz;
  em interval;
  spent_name text[] := '{}';  -- rate buckets whose token this call took
  spent text[] := '{}';
  spent_em interval[] := '{}';
BEGIN
  locks := '{}';
  FOREACH l IN ARRAY lims LOOP
    b := qg_limit_bucket(l, jc, ja, jk);
    bs := bs || b;
    IF b IS NOT NULL THEN
      applying := applying + 1;
      only_l := l;
      hand_key := l.name || E'\n' || b;
    END IF;
  END LOOP;
  IF applying = 1 AND only_l.concurrency IS NOT NULL AND only_l.rate IS NULL
     AND only_l.slots_high <= only_l.concurrency THEN
    hand_bucket := hashtextextended(hand_key, 0);
  ELSE
    hand_key := NULL;
  END IF;
  FOR x IN 1 .. cardinality(lims) LOOP
    IF bs[x] IS NOT NULL AND skip ? (lims[x].name || E'\n' || bs[x]) THEN
      locks := NULL; blocked := lims[x].name || E'\n' || bs[x];
      RETURN;
    END IF;
  END LOOP;
  -- Rate tokens first (written in the statement's transaction: a failure
  -- takes them back), then slot locks (session locks a failure would not
  -- take back; only try-locks follow them).
  FOR x IN 1 .. cardinality(lims) LOOP
    l := lims[x];
    b := bs[x];
    CONTINUE WHEN l.rate IS NULL OR b IS NULL;
    em := l.rate_period / l.rate;
    t := clock_timestamp();
    ok := NULL;
    INSERT INTO qg_limit_rates AS r (name, key, tat)
    VALUES (l.name, b, t + em)
    ON CONFLICT (name, key) DO UPDATE SET tat = greatest(r.tat, t - em) + em
    WHERE r.tat - em * (l.rate_burst - 1) <= t
    RETURNING true INTO ok;
    IF ok IS NULL THEN
      SELECT extract(epoch FROM r.tat - em * (l.rate_burst - 1) - t)
      INTO retry_in
      FROM qg_limit_rates AS r WHERE r.name = l.name AND r.key = b;
      FOR i IN 1 .. cardinality(spent) LOOP
        UPDATE qg_limit_rates AS r SET tat = r.tat - spent_em[i]
        WHERE r.name = spent_name[i] AND r.key = spent[i];
      END LOOP;
      locks := NULL; blocked := l.name || E'\n' || b;
      RETURN;
    END IF;
    spent_name := spent_name || l.name;
    spent := spent || b;
    spent_em := spent_em || em;
  END LOOP;
  FOR x IN 1 .. cardinality(lims) LOOP
    l := lims[x];
    b := bs[x];
    CONTINUE WHEN l.concurrency IS NULL OR b IS NULL;
    sc := CASE WHEN l.per_pool THEN scope ELSE 0 END;
    n := l.concurrency;
    k := NULL;
    off := floor(random() * greatest(n, 1))::int;
    mine := false;
    FOR s IN 0 .. n - 1 LOOP
      k := qg_limit_lock_key(l.name, b, sc, (off + s) % n);
      IF k = ANY (held) THEN
        mine := true;
      ELSIF NOT (k = ANY (locks)) AND pg_try_advisory_lock(k) THEN
        EXIT;
      END IF;
      k := NULL;
    END LOOP;
    ok := k IS NOT NULL;
    -- A lowered limit: slots above it taken under the higher one must all
    -- be free first (probed: try-locked and released at once).
    IF ok AND l.slots_high > n THEN
      FOR s IN n .. l.slots_high - 1 LOOP
        k2 := qg_limit_lock_key(l.name, b, sc, s);
        IF k2 = ANY (held) OR NOT pg_try_advisory_lock(k2) THEN
          ok := false;
          EXIT;
        END IF;
        PERFORM pg_advisory_unlock(k2);
      END LOOP;
      IF NOT ok THEN PERFORM pg_advisory_unlock(k); END IF;
    END IF;
    IF NOT ok THEN
      PERFORM pg_advisory_unlock(y) FROM unnest(locks) AS y;
      FOR i IN 1 .. cardinality(spent) LOOP
        UPDATE qg_limit_rates AS r SET tat = r.tat - spent_em[i]
        WHERE r.name = spent_name[i] AND r.key = spent[i];
      END LOOP;
      locks := NULL; blocked := l.name || E'\n' || b;
      RETURN;
    END IF;
    locks := locks || k;
  END LOOP;
END
$$;

-- Flow control's hand-off lock alone, for a pool with no lock scan to send
-- (see qg_lock_jobs()'s `hand`): 1 let go of it and take it again, 2 keep
-- it, 4 let go of it. Returns whether the session holds it now, the
-- version of queue `q`'s limits as read under it (a hash, as
-- qg_lock_jobs() reports it) and whether a change to limits waits for it.
DROP FUNCTION IF EXISTS qg_limit_hand(text, smallint);
CREATE FUNCTION qg_limit_hand(q text, op smallint, OUT held boolean,
                              OUT version bigint, OUT change_wanted boolean)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF op IN (1, 4) THEN
    PERFORM set_config('client_min_messages', 'error', true);
    WHILE pg_advisory_unlock_shared(1902603373, 1) LOOP
    END LOOP;
  END IF;
  held := op = 2 OR (op = 1 AND pg_try_advisory_lock_shared(1902603373, 1));
  version := hashtextextended(coalesce(qg_queue_limits(q)::text, ''), 0);
  -- A change holds (1902603373, 2) from before it asks for the hand-off
  -- lock until it commits.
  change_wanted := held AND NOT pg_try_advisory_lock_shared(1902603373, 2);
  IF held AND NOT change_wanted THEN
    PERFORM pg_advisory_unlock_shared(1902603373, 2);
  END IF;
END
$$;

-- The rows of queue q at ctids `tids` that are visible and have one of the
-- keys (ps, rs, ids: parallel arrays), each with its place in the keys (n)
-- and its ctid: the lock scan's re-check of the rows it locked, where it
-- read them. One TID scan fetches them all and a hash join matches them to
-- the keys (a TID scan per row costs a system call each, for the
-- relation's size; a primary-key probe per row cost more than the scan).
-- The TID scan is the subquery's only condition, fenced by OFFSET 0: with
-- the queue's key in it, a plan made while the queue looked empty walks
-- the whole primary key instead. A function of its own for its planner
-- settings: the locker session rules out hash joins (a plan made on stale
-- statistics could hash the whole queue), while this join's queue side is
-- bounded by the TID scan; and with nested loops allowed such a plan
-- probes the key index per row. STABLE: it reads with its caller's
-- snapshot.
CREATE OR REPLACE FUNCTION qg_rows_where_read(q text, ps smallint[],
                                              rs timestamptz[], ids bigint[],
                                              tids tid[])
RETURNS TABLE (n bigint, y que_jobs, t tid)
LANGUAGE plpgsql STABLE
SET enable_hashjoin = on SET enable_nestloop = off AS $$
BEGIN
  RETURN QUERY
    SELECT k.n, x.y, x.t
    FROM unnest(ps, rs, ids) WITH ORDINALITY AS k(p, r, id, n)
    JOIN (SELECT j AS y, j.ctid AS t, j.queue, j.priority, j.run_at,
                 j.job_id
          FROM que_jobs AS j
          WHERE j.ctid = ANY (tids)
          OFFSET 0) AS x
      ON x.job_id = k.id AND x.priority = k.p AND x.run_at = k.r
      AND x.queue = q;
END
$$;

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
-- Limits (qg_limits): when any applies to the queue, each locked candidate
-- must also be admitted (qg_limit_admit(): a slot lock per concurrency
-- limit, a token per rate limit; `scope` is the pool's id for per-pool
-- limits, and `held` also lists the slot locks the session holds); one held
-- back is unlocked and skipped, and later candidates of a bucket found full
-- are skipped without trying. A job's row returns the slot locks it took
-- in `limit_locks` (the caller releases them with the job's lock). With
-- limits the rewind pass takes at most half of `max_scan`, and the keys in
-- probe_* (jobs held back earlier) are looked at first, each with up to
-- least(want, 32) + 3 candidates from it. When every limit on the queue is
-- one bucket for all of its jobs and one of them is full, nothing else can
-- start: the scan stops at the first job it held back (exhausted), which
-- the pool probes once a slot frees, so that a full queue costs one
-- candidate a scan, not max_scan. A queue without
-- limits pays one probe of qg_limits per call and nothing per candidate.
--
-- The summary row: `scanned` (candidates looked at), `exhausted` (the scan
-- after the cursor reached the end of the runnable jobs), `paused`, in
-- priority/run_at/job_id the key of the last candidate looked at after the
-- cursor (the new cursor; NULL if none), and in rewind_* the key where an
-- unfinished rewind stopped (NULL when the rewind range was covered); in
-- blocked_* (arrays) per bucket a limit found full the key of its first
-- candidate held back (and of each probed job still held back) with the
-- bucket, and in retry_in the seconds until the first rate
-- limit that held one back has a token (NULL if none did).
DROP FUNCTION IF EXISTS qg_lock_jobs(text, int, bigint[], int, smallint,
                                     timestamptz, bigint);
DROP FUNCTION IF EXISTS qg_lock_jobs(text, int, bigint[], int, smallint,
                                     timestamptz, bigint, smallint,
                                     timestamptz, bigint);
DROP FUNCTION IF EXISTS qg_lock_jobs(text, int, bigint[], int, smallint,
                                     timestamptz, bigint, smallint,
                                     timestamptz, bigint, bigint);
DROP FUNCTION IF EXISTS qg_lock_jobs(text, int, bigint[], int, smallint,
                                     timestamptz, bigint, smallint,
                                     timestamptz, bigint, bigint, smallint[],
                                     timestamptz[], bigint[]);
DROP FUNCTION IF EXISTS qg_lock_jobs(text, int, bigint[], int, smallint,
                                     timestamptz, bigint, smallint,
                                     timestamptz, bigint, bigint, smallint[],
                                     timestamptz[], bigint[], bigint[]);
DROP FUNCTION IF EXISTS qg_lock_jobs(text, int, bigint[], int, smallint,
                                     timestamptz, bigint, smallint,
                                     timestamptz, bigint, bigint, smallint[],
                                     timestamptz[], bigint[], bigint[],
                                     smallint);
CREATE FUNCTION qg_lock_jobs(q text, want int, held bigint[], max_scan int,
                             after_p smallint, after_r timestamptz,
                             after_id bigint, rewind_p smallint,
                             rewind_r timestamptz, rewind_id bigint,
                             scope bigint, probe_p smallint[],
                             probe_r timestamptz[], probe_i bigint[],
                             probe_b bigint[], hand smallint)
RETURNS TABLE (queue text, priority smallint, run_at timestamptz,
               job_id bigint, job_class text, args json,
               error_count integer, last_error text, locked boolean,
               scanned integer, exhausted boolean, paused boolean,
               rewind_priority smallint, rewind_run_at timestamptz,
               rewind_job_id bigint, limit_locks bigint[],
               blocked_priorities smallint[], blocked_run_ats timestamptz[],
               blocked_job_ids bigint[], blocked_buckets bigint[],
               retry_in float8, limit_bucket bigint, limit_wait bigint,
               hand_held boolean, limits_version bigint,
               change_wanted boolean, row_tid tid)
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
  rewind_cut boolean := false;  -- the rewind pass left for the next call
  last_p smallint;
  last_r timestamptz;
  last_i bigint;
  rw_p smallint;
  rw_r timestamptz;
  rw_i bigint;
  got_p smallint[] := '{}';
  got_r timestamptz[] := '{}';
  got_i bigint[] := '{}';
  got_c tid[] := '{}';           -- where each was read (its ctid)
  found_i bigint[] := '{}';
  c record;
  -- Flow control (qg_limits): the limits on this queue, NULL when none.
  lims qg_limits[];
  taken bigint[] := '{}';        -- limit locks taken by this call
  taken_by bigint[] := '{}';     -- the job each was taken for
  got_tf int[] := '{}';          -- per locked job (limits only): where its
  got_tn int[] := '{}';          -- locks start in `taken`, and how many,
  got_b bigint[] := '{}';        -- the bucket a pool may hand its slot in,
  got_w bigint[] := '{}';        -- and the bucket a job locked without a
                                 -- slot waits for (a hand-off)
  hand_on boolean := false;      -- the hand-off lock is held
  mine_b jsonb := '{}';          -- buckets one of whose slots we hold
  reported jsonb := '{}';        -- buckets whose first held back is in bl_*
  n_pending int := 0;
  pend_cap int := least(want, 256);
  cur_job bigint;                -- the candidate whose lock was taken last
  wanted boolean := false;       -- a change to limits waits (hand-off)
  solo_key text;                 -- the queue's one limit, one bucket for
  solo_bucket bigint;            -- every job, that allows hand-offs (only
                                 -- there: jobs locked to wait for a slot
                                 -- would crowd other buckets' jobs out of
                                 -- a pool's buffer)
  saturated jsonb := '{}';       -- buckets found full by this call (keys)
  held_slots bigint[];           -- the slot locks in `held` (negative)
  adm record;
  jc text;
  ja json;
  jk text;
  bl_p smallint[] := '{}';     -- per bucket found full: its first job
  bl_r timestamptz[] := '{}';  -- held back (where a probe looks later)
  bl_i bigint[] := '{}';
  bl_b bigint[] := '{}';       -- and its bucket (a hash of "name\nbucket")
  retry float8;
  skip_probe bigint;           -- a probe whose own job is held back
  watched boolean;             -- a probe candidate left alone
  probing boolean := false;    -- the probe pass locked some: skip them after
  whole_queue boolean;         -- every limit is one bucket of every job
  wl qg_limits;                -- the early look at a whole-queue limit
  wk bigint;
  others_full boolean;
  one_l qg_limits;             -- the queue's one limit, when not solo_key
  set_r timestamptz[];         -- one priority's set-based scan (no limits):
  set_i bigint[];              -- the jobs it locked, how many candidates
  set_n bigint;                -- it looked at and the last one's key
  set_lr timestamptz;
  set_li bigint;
  set_c tid[];
  found_rows que_jobs[];       -- the re-checked rows, and each one's
  found_n bigint[];            -- place in got_*, and where it is now
  found_c tid[];
  scanning boolean := false;   -- a set-based scan of priority p after
  ub_r timestamptz;            -- key (r, i) is under way, up to this key
  ub_i bigint;
  held_lo bigint;              -- the least and greatest of `held`: a
  held_hi bigint;              -- candidate outside them is not held,
                               -- without a search of `held` (see below)
BEGIN
  BEGIN
    -- The hand-off lock (session lock (1902603373, 1), shared): a pool hands
    -- a finished job's slot straight to a job it locked without one only
    -- while it holds it, and a change to limits takes it exclusively, so no
    -- pool hands a slot on under a value being changed. `hand`: 0 not held,
    -- not wanted; 1 let go of it (however often it is held: a failed scan
    -- leaves the caller unsure) and take it (a change waiting for it gets it
    -- first); 2 held, keep it; 4 let go of it. A change holds (1902603373,
    -- 2) from before it asks for the hand-off lock until it commits: the
    -- summary's change_wanted tells the pool to stop handing slots on and
    -- let go of the lock in its next round trip.
    IF hand IN (1, 4) THEN
      PERFORM set_config('client_min_messages', 'error', true);
      WHILE pg_advisory_unlock_shared(1902603373, 1) LOOP
      END LOOP;
    END IF;
    IF hand = 1 THEN
      hand_on := pg_try_advisory_lock_shared(1902603373, 1);
    ELSE
      hand_on := hand = 2;
    END IF;
    IF hand_on THEN
      wanted := NOT pg_try_advisory_lock_shared(1902603373, 2);
      IF NOT wanted THEN
        PERFORM pg_advisory_unlock_shared(1902603373, 2);
      END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM qg_queues AS s WHERE s.queue = q AND s.paused) THEN
      locked := false; scanned := 0; exhausted := true; paused := true;
      hand_held := hand_on; change_wanted := wanted;
      RETURN NEXT;
      RETURN;
    END IF;
    -- A candidate is looked for in `held` (a linear search: a plan kept
    -- by the session compares each candidate with every id the pool holds,
    -- about 2.5 us a candidate for a thousand of them) only when it lies
    -- between the least and the greatest held: new jobs after the cursor,
    -- whose ids are mostly above every held one, are not searched for.
    SELECT min(h), max(h) INTO held_lo, held_hi FROM unnest(held) AS h;
    lims := qg_queue_limits(q);
    IF lims IS NOT NULL THEN
      -- Changes to limits (qg_limit_set and friends) take this lock
      -- exclusively: a scan admits under the limits as they are once no
      -- change is under way, read again after the lock (a scan in flight
      -- while a limit is lowered never admits under the old value).
      PERFORM pg_advisory_xact_lock_shared(1902603373, 0);
      lims := qg_queue_limits(q);
      -- Slot keys have the sign bit set, job ids never: only the slots are
      -- passed on to each admission (not the pool's thousand job ids).
      held_slots := ARRAY(SELECT h FROM unnest(held) AS h WHERE h < 0);
    END IF;
    -- Probes (limits only): jobs a limit held back in earlier scans, behind
    -- the cursor, whose bucket may have room now: each probe key and up to 3
    -- candidates after it, admitted like any other (the pool passes the
    -- first held-back job of each full bucket it knows of, after it freed a
    -- slot and now and then), so that a freed slot is taken without walking
    -- again every job held back before it.
    whole_queue := lims IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM unnest(lims) AS l
      WHERE l.job_class IS NOT NULL OR l.key_by <> 'none');
    IF whole_queue AND cardinality(lims) = 1 AND lims[1].concurrency IS NOT NULL
       AND lims[1].rate IS NULL
       AND lims[1].slots_high <= lims[1].concurrency THEN
      solo_key := lims[1].name || E'\n';
      solo_bucket := hashtextextended(solo_key, 0);
    END IF;
    IF cardinality(lims) = 1 AND solo_key IS NULL THEN
      one_l := lims[1];
    END IF;
    -- A queue whose every limit is one bucket for all of its jobs, one of
    -- them a concurrency limit whose slots all other sessions hold: nothing
    -- can start, so nothing is walked (a pool holding none of the slots
    -- would otherwise try-lock, scan after scan, the jobs their holders
    -- locked ahead). Reported as held back at the cursor, from where the
    -- pool probes later; the cursor and the rewind stay as they were.
    -- (Up to 64 slots: trying more would cost more than it saves.)
    IF whole_queue AND cardinality(probe_i) = 0 THEN
      FOREACH wl IN ARRAY lims LOOP
        CONTINUE WHEN wl.concurrency IS NULL OR wl.concurrency > 64;
        others_full := true;
        FOR s IN 0 .. wl.concurrency - 1 LOOP
          wk := qg_limit_lock_key(wl.name, '',
                                  CASE WHEN wl.per_pool THEN scope ELSE 0 END,
                                  s);
          IF wk = ANY (held_slots) THEN
            others_full := false;
          ELSIF pg_try_advisory_lock(wk) THEN
            PERFORM pg_advisory_unlock(wk);
            others_full := false;
          END IF;
          EXIT WHEN NOT others_full;
        END LOOP;
        CONTINUE WHEN NOT others_full;
        queue := NULL; priority := NULL; run_at := NULL; job_id := NULL;
        job_class := NULL; args := NULL; error_count := NULL;
        last_error := NULL; locked := false; scanned := 0; exhausted := true;
        paused := false; limit_locks := NULL;
        rewind_priority := rewind_p; rewind_run_at := rewind_r;
        rewind_job_id := rewind_id;
        blocked_priorities := ARRAY[coalesce(after_p, -32768)::smallint];
        blocked_run_ats := ARRAY[coalesce(after_r, '-infinity')];
        blocked_job_ids := ARRAY[coalesce(after_id, -9223372036854775808)];
        blocked_buckets := ARRAY[hashtextextended(wl.name || E'\n', 0)];
        retry_in := NULL; limit_bucket := NULL; limit_wait := NULL;
        hand_held := hand_on; change_wanted := wanted;
        limits_version := hashtextextended(coalesce(lims::text, ''), 0);
        RETURN NEXT;
        RETURN;
      END LOOP;
    END IF;
    IF lims IS NOT NULL AND cardinality(probe_i) > 0 THEN
      <<probes>>
      FOR c IN
        SELECT x.priority, x.run_at, x.job_id, x.row_tid, k.i AS probe_of,
               k.b AS probe_bucket
        FROM unnest(probe_p, probe_r, probe_i, probe_b) AS k(p, r, i, b),
        LATERAL (SELECT j.priority, j.run_at, j.job_id, j.ctid AS row_tid
                 FROM que_jobs AS j
                 WHERE j.queue = q AND j.run_at <= due
                 AND (j.priority, j.run_at, j.job_id) >= (k.p, k.r, k.i)
                 ORDER BY j.priority, j.run_at, j.job_id
                 LIMIT least(want, 32) + 3 OFFSET 0) AS x
      LOOP
        -- A probed job still held back: its bucket is still full, and the
        -- other buckets are probed by their own keys.
        CONTINUE WHEN c.probe_of = skip_probe OR c.job_id = ANY (got_i);
        -- Probes past `want`, and a probed job a worker has (this pool or
        -- another): kept watched as they are (reported back with their
        -- bucket), so that the pool, which forgets the keys it probes, looks
        -- again later.
        watched := n_locked >= want OR c.job_id = ANY (held);
        IF NOT watched THEN
          watched := NOT pg_try_advisory_lock(c.job_id);
          cur_job := c.job_id;
        END IF;
        IF watched THEN
          IF c.job_id = c.probe_of THEN
            bl_p := bl_p || c.priority; bl_r := bl_r || c.run_at;
            bl_i := bl_i || c.job_id; bl_b := bl_b || c.probe_bucket;
          END IF;
          CONTINUE;
        END IF;
        SELECT j.job_class, j.args, j.qg_limit_key INTO jc, ja, jk
        FROM que_jobs AS j
        WHERE j.queue = q AND j.priority = c.priority AND j.run_at = c.run_at
        AND j.job_id = c.job_id;
        IF NOT FOUND THEN
          PERFORM pg_advisory_unlock(c.job_id);
          CONTINUE;
        END IF;
        adm := qg_limit_admit(lims, jc, ja, jk, scope, held_slots || taken,
                             saturated);
        IF adm.locks IS NULL AND adm.mine AND solo_key IS NOT NULL THEN
          mine_b := mine_b || jsonb_build_object(adm.blocked, true);
        END IF;
        IF adm.locks IS NULL AND hand_on AND solo_key IS NOT NULL
           AND n_pending < pend_cap AND mine_b ? adm.blocked THEN
          -- Locked without a slot: the pool hands it one (as in the main
          -- pass below).
          IF NOT (saturated ? adm.blocked) THEN
            saturated := saturated || jsonb_build_object(adm.blocked, true);
          END IF;
          got_b := got_b || NULL::bigint;
          got_w := got_w || adm.hand_bucket;
          got_tf := got_tf || (cardinality(taken) + 1);
          got_tn := got_tn || 0;
          got_p := got_p || c.priority;
          got_r := got_r || c.run_at;
          got_i := got_i || c.job_id;
          got_c := got_c || c.row_tid;
          n_locked := n_locked + 1;
          n_pending := n_pending + 1;
          probing := true;
          CONTINUE;
        END IF;
        IF adm.locks IS NULL THEN
          PERFORM pg_advisory_unlock(c.job_id);
          -- Reported again: the first held back of each bucket, and every
          -- probed job still held back (the pool forgets the keys it probes
          -- and keeps the earliest per bucket).
          IF NOT (reported ? adm.blocked) OR c.job_id = c.probe_of THEN
            reported := reported || jsonb_build_object(adm.blocked, true);
            bl_p := bl_p || c.priority; bl_r := bl_r || c.run_at;
            bl_i := bl_i || c.job_id;
            bl_b := bl_b || hashtextextended(adm.blocked, 0);
          END IF;
          IF c.job_id = c.probe_of THEN
            skip_probe := c.probe_of;
          END IF;
          IF NOT (saturated ? adm.blocked) THEN
            saturated := saturated || jsonb_build_object(adm.blocked, true);
          END IF;
          IF adm.retry_in IS NOT NULL THEN retry := least(retry, adm.retry_in);
          END IF;
          -- One bucket for the whole queue, and it is full: nothing else can.
          EXIT probes WHEN whole_queue;
          CONTINUE;
        END IF;
        IF adm.hand_key IS NOT NULL AND solo_key IS NOT NULL THEN
          mine_b := mine_b || jsonb_build_object(adm.hand_key, true);
        END IF;
        got_b := got_b || adm.hand_bucket;
        got_w := got_w || NULL::bigint;
        got_tf := got_tf || (cardinality(taken) + 1);
        got_tn := got_tn || cardinality(adm.locks);
        taken := taken || adm.locks;
        taken_by := taken_by
                    || array_fill(c.job_id, ARRAY[cardinality(adm.locks)]);
        got_p := got_p || c.priority;
        got_r := got_r || c.run_at;
        got_i := got_i || c.job_id;
        got_c := got_c || c.row_tid;
        n_locked := n_locked + 1;
        probing := true;
      END LOOP;
    END IF;
    IF n_locked >= want THEN
      stopped_in := 3;  -- the probes took all: the rewind and the cursor wait
    END IF;
    IF whole_queue AND reported <> '{}'::jsonb THEN
      -- The probes found the queue full (and held a job back, not only
      -- locked some to wait for a hand-off): the rewind waits for the next
      -- scan.
      rewind_cut := rewind_p IS NOT NULL AND after_p IS NOT NULL;
    END IF;
    <<passes>>
    FOR pass IN 1..2 LOOP
      EXIT WHEN stopped_in = 3 OR (whole_queue AND reported <> '{}'::jsonb);
      IF pass = 1 THEN
        -- The rewind: from the rewind key up to the cursor.
        CONTINUE WHEN rewind_p IS NULL OR after_p IS NULL;
        p := rewind_p; r := rewind_r; i := rewind_id; bp := after_p;
      ELSE
        p := after_p; r := after_r; i := after_id; bp := NULL;
        IF p IS NULL THEN
          -- (ORDER BY ... LIMIT 1, here and for each next priority, not
          -- min(): a plan made while the queue looked empty aggregates
          -- min() over every row of the queue, where this form can only
          -- stop at the first index entry.)
          SELECT j.priority INTO p FROM que_jobs AS j WHERE j.queue = q
          ORDER BY j.priority LIMIT 1;
          r := '-infinity';
          i := -9223372036854775808;
        END IF;
      END IF;
      <<priorities>>
      WHILE p IS NOT NULL AND (bp IS NULL OR p <= bp) LOOP
        IF lims IS NULL THEN
          -- Without limits, one statement walks this priority as the loop
          -- below would, a row at a time in key order: the candidates (at
          -- most what is left of max_scan), each try-locked unless the pool
          -- holds it, until `want` are locked. The filter sits above the
          -- LIMITs and its CASE tries a lock only where the pool holds none,
          -- so no row past the last one returned is ever tried. Each row
          -- returned carries its place among the candidates (how many were
          -- scanned); the last candidate comes back locked or not, so the
          -- scan's end is known. (A plpgsql loop over the rows cost about
          -- four times as much server time per job.)
          -- The range's upper end, a value rather than a condition on bp
          -- so that a generic plan bounds the index scan with it (a
          -- filter would walk every due row after the cursor).
          IF bp IS NOT NULL AND p = bp THEN
            ub_r := after_r; ub_i := after_id;
          ELSE
            ub_r := 'infinity'; ub_i := 9223372036854775807;
          END IF;
          scanning := true;
          SELECT coalesce(array_agg(y.run_at ORDER BY y.rn)
                            FILTER (WHERE y.got), '{}'),
                 coalesce(array_agg(y.job_id ORDER BY y.rn)
                            FILTER (WHERE y.got), '{}'),
                 coalesce(max(y.rn), 0),
                 (array_agg(y.run_at ORDER BY y.rn DESC))[1],
                 (array_agg(y.job_id ORDER BY y.rn DESC))[1],
                 coalesce(array_agg(y.row_tid ORDER BY y.rn)
                            FILTER (WHERE y.got), '{}')
          INTO set_r, set_i, set_n, set_lr, set_li, set_c
          FROM (
          SELECT z.run_at, z.job_id, z.row_tid, z.rn, z.got
          FROM (
            SELECT w.run_at, w.job_id, w.row_tid, w.rn, w.is_last,
                   CASE WHEN w.job_id BETWEEN held_lo AND held_hi
                             AND w.job_id = ANY (held) THEN false
                        ELSE pg_try_advisory_lock(w.job_id) END AS got
            FROM (
              SELECT v.run_at, v.job_id, v.row_tid,
                     row_number() OVER o AS rn,
                     lead(v.job_id) OVER o IS NULL AS is_last
              FROM (
                SELECT j.run_at, j.job_id, j.ctid AS row_tid
                FROM que_jobs AS j
                WHERE j.queue = q AND j.priority = p AND j.run_at <= due
                AND (j.run_at, j.job_id) > (r, i)
                AND (j.run_at, j.job_id) <= (ub_r, ub_i)
                ORDER BY j.run_at, j.job_id
                LIMIT max_scan - n_scanned
              ) AS v
              WINDOW o AS (ORDER BY v.run_at, v.job_id)
            ) AS w
            OFFSET 0
          ) AS z
          WHERE z.got OR z.is_last
          LIMIT want - n_locked
          ) AS y;
          IF set_n > 0 THEN
            n_scanned := n_scanned + set_n;
            IF pass = 1 THEN
              rw_p := p; rw_r := set_lr; rw_i := set_li;
            ELSE
              last_p := p; last_r := set_lr; last_i := set_li;
            END IF;
            IF cardinality(set_i) > 0 THEN
              cur_job := set_i[cardinality(set_i)];
              got_p := got_p || array_fill(p, ARRAY[cardinality(set_i)]);
              got_r := got_r || set_r;
              got_i := got_i || set_i;
              got_c := got_c || set_c;
              n_locked := n_locked + cardinality(set_i);
            END IF;
          END IF;
          -- Only now: a cancel may land before any statement, and until
          -- got_i holds them the handler finds this scan's locks by range.
          scanning := false;
          IF set_n > 0 AND (n_locked >= want OR n_scanned >= max_scan) THEN
            stopped_in := pass;
            EXIT passes;
          END IF;
        ELSE
          -- With limits: a row at a time, each admitted by the limits
          -- before the next (with what admission needs read in the scan: a
          -- look-up of the row per candidate cost more).
          FOR c IN
            SELECT j.run_at, j.job_id, j.job_class, j.args, j.qg_limit_key,
                   j.ctid AS row_tid
            FROM que_jobs AS j
            WHERE j.queue = q AND j.priority = p AND j.run_at <= due
            AND (j.run_at, j.job_id) > (r, i)
            ORDER BY j.run_at, j.job_id
          LOOP
            EXIT WHEN bp IS NOT NULL AND p = bp
                      AND (c.run_at, c.job_id) > (after_r, after_id);
            -- With limits, the rewind takes at most half the scan, so that
            -- jobs held back behind the cursor never keep the scan from new
            -- ones after it; the rest of the rewind is left for the next call.
            IF pass = 1 AND n_scanned >= max_scan / 2 THEN
              rewind_cut := true;
              EXIT priorities;
            END IF;
            n_scanned := n_scanned + 1;
            IF pass = 1 THEN
              rw_p := p; rw_r := c.run_at; rw_i := c.job_id;
            ELSE
              last_p := p; last_r := c.run_at; last_i := c.job_id;
            END IF;
            IF NOT (c.job_id BETWEEN held_lo AND held_hi
                    AND c.job_id = ANY (held))
               AND NOT (probing AND c.job_id = ANY (got_i)) THEN
              IF solo_key IS NOT NULL AND hand_on AND n_pending < pend_cap
                    AND saturated ? solo_key AND mine_b ? solo_key THEN
                -- The queue's one bucket is full and a slot of it is ours:
                -- every job waits for a hand-off, nothing to compute.
                IF pg_try_advisory_lock(c.job_id) THEN
                  got_b := got_b || NULL::bigint;
                  got_w := got_w || solo_bucket;
                  got_tf := got_tf || (cardinality(taken) + 1);
                  got_tn := got_tn || 0;
                  got_p := got_p || p;
                  got_r := got_r || c.run_at;
                  got_i := got_i || c.job_id;
                  got_c := got_c || c.row_tid;
                  n_locked := n_locked + 1;
                  n_pending := n_pending + 1;
                END IF;
              ELSIF one_l.name IS NOT NULL AND saturated <> '{}'::jsonb
                    AND saturated ? (one_l.name || E'\n'
                                     || qg_limit_bucket(one_l, c.job_class,
                                                        c.args, c.qg_limit_key))
                    THEN
                -- Its bucket was found full earlier in this scan: held back
                -- as admission would hold it back, without taking its lock
                -- and letting go of it (walking past a deep key's jobs).
                NULL;
              ELSIF pg_try_advisory_lock(c.job_id) THEN
                cur_job := c.job_id;
                -- Limits: the job's lock first (so that nothing is taken for a
                -- job another worker has), then its limits' locks and tokens.
                -- A row finished meanwhile is admitted too: the re-check
                -- below leaves it out and lets go of its slots.
                jc := c.job_class; ja := c.args; jk := c.qg_limit_key;
                adm := qg_limit_admit(lims, jc, ja, jk, scope,
                                     held_slots || taken, saturated);
                IF adm.locks IS NULL AND adm.mine AND solo_key IS NOT NULL THEN
                  mine_b := mine_b || jsonb_build_object(adm.blocked, true);
                END IF;
                IF adm.locks IS NULL AND hand_on AND solo_key IS NOT NULL
                   AND n_pending < pend_cap AND mine_b ? adm.blocked THEN
                  -- Its bucket is full, but a slot of it is ours: the job
                  -- stays locked without one, and the pool hands it the
                  -- slot of the next job of the bucket to finish.
                  IF NOT (saturated ? adm.blocked) THEN
                    saturated := saturated
                                 || jsonb_build_object(adm.blocked, true);
                  END IF;
                  got_tf := got_tf || (cardinality(taken) + 1);
                  got_tn := got_tn || 0;
                  got_b := got_b || NULL::bigint;
                  got_w := got_w || adm.hand_bucket;
                  got_p := got_p || p;
                  got_r := got_r || c.run_at;
                  got_i := got_i || c.job_id;
                  got_c := got_c || c.row_tid;
                  n_locked := n_locked + 1;
                  n_pending := n_pending + 1;
                ELSIF adm.locks IS NULL THEN
                  PERFORM pg_advisory_unlock(c.job_id);
                  IF NOT (saturated ? adm.blocked) THEN
                    saturated := saturated
                                 || jsonb_build_object(adm.blocked, true);
                  END IF;
                  IF NOT (reported ? adm.blocked) THEN
                    reported := reported
                                || jsonb_build_object(adm.blocked, true);
                    bl_p := bl_p || p; bl_r := bl_r || c.run_at;
                    bl_i := bl_i || c.job_id;
                    bl_b := bl_b || hashtextextended(adm.blocked, 0);
                  END IF;
                  IF adm.retry_in IS NOT NULL THEN
                    retry := least(retry, adm.retry_in);
                  END IF;
                  IF whole_queue THEN
                    rewind_cut := rewind_cut OR pass = 1;
                    EXIT passes;  -- nothing behind it can start either
                  END IF;
                ELSE
                  IF adm.hand_key IS NOT NULL AND solo_key IS NOT NULL THEN
                    mine_b := mine_b || jsonb_build_object(adm.hand_key, true);
                  END IF;
                  got_b := got_b || adm.hand_bucket;
                  got_w := got_w || NULL::bigint;
                  got_tf := got_tf || (cardinality(taken) + 1);
                  got_tn := got_tn || cardinality(adm.locks);
                  taken := taken || adm.locks;
                  taken_by := taken_by
                              || array_fill(c.job_id,
                                            ARRAY[cardinality(adm.locks)]);
                  got_p := got_p || p;
                  got_r := got_r || c.run_at;
                  got_i := got_i || c.job_id;
                  got_c := got_c || c.row_tid;
                  n_locked := n_locked + 1;
                END IF;
              END IF;
            END IF;
            IF n_locked >= want OR n_scanned >= max_scan THEN
              stopped_in := pass;
              EXIT passes;
            END IF;
          END LOOP;
        END IF;
        SELECT j.priority INTO p FROM que_jobs AS j
        WHERE j.queue = q AND j.priority > p
        ORDER BY j.priority LIMIT 1;
        r := '-infinity';
        i := -9223372036854775808;
      END LOOP;
    END LOOP;
    -- Re-check under a fresh snapshot (a VOLATILE function gets one per
    -- statement): a row another worker finished between the scan's snapshot
    -- and our lock is gone; release it.
    -- The rows are looked for where the scan read them (their ctids, see
    -- qg_rows_where_read()). Only when some row was not there (updated
    -- since, or gone) are they all looked for by key, one index probe per
    -- locked key: OFFSET 0 keeps the planner from flattening the LATERAL
    -- subquery into a join, which, planned while the statistics said the
    -- queue was empty, reads the whole queue each call (a session keeps
    -- its plans).
    -- The rows found, in scan order, are read once under the new snapshot
    -- and returned from an array (a row at a time through RETURN NEXT
    -- cost more than the scan), each beside its place in got_* (`n`), for
    -- its slot locks: a slice of `taken` (not a search of it per job,
    -- which a thousand jobs locked at once made quadratic), and where it
    -- is now (the caller's hint for its completion).
    SELECT coalesce(array_agg(w.y ORDER BY w.n), '{}'),
           coalesce(array_agg(w.n ORDER BY w.n), '{}'),
           coalesce(array_agg(w.t ORDER BY w.n), '{}')
    INTO found_rows, found_n, found_c
    FROM qg_rows_where_read(q, got_p, got_r, got_i, got_c) AS w;
    IF cardinality(found_n) < n_locked THEN
      SELECT coalesce(array_agg(x.y ORDER BY k.n), '{}'),
             coalesce(array_agg(k.n ORDER BY k.n), '{}'),
             coalesce(array_agg(x.t ORDER BY k.n), '{}')
      INTO found_rows, found_n, found_c
      FROM unnest(got_p, got_r, got_i) WITH ORDINALITY AS k(p, r, id, n),
      LATERAL (SELECT y, y.ctid AS t FROM que_jobs AS y
               WHERE y.queue = q AND y.priority = k.p AND y.run_at = k.r
               AND y.job_id = k.id
               OFFSET 0) AS x;
    END IF;
    found_i := ARRAY(SELECT f.job_id FROM unnest(found_rows) AS f);
    -- (unnest of a row array and an int array: the row's columns, then
    -- the int as `unnest`.)
    RETURN QUERY
      SELECT f.queue, f.priority, f.run_at, f.job_id, f.job_class, f.args,
             f.error_count, f.last_error, true, NULL::integer,
             NULL::boolean, NULL::boolean, NULL::smallint,
             NULL::timestamptz, NULL::bigint,
             CASE WHEN lims IS NULL THEN NULL
                  ELSE taken[got_tf[f.unnest] : got_tf[f.unnest]
                                                + got_tn[f.unnest] - 1]
             END,
             NULL::smallint[], NULL::timestamptz[], NULL::bigint[],
             NULL::bigint[], NULL::float8, got_b[f.unnest], got_w[f.unnest],
             NULL::boolean, NULL::bigint, NULL::boolean,
             found_c[f.ordinality]
      FROM unnest(found_rows, found_n) WITH ORDINALITY AS f
      ORDER BY f.ordinality;
    IF cardinality(found_i) < n_locked THEN
      PERFORM pg_advisory_unlock(id)
      FROM unnest(got_i) AS id
      WHERE NOT (id = ANY (found_i));
      PERFORM pg_advisory_unlock(t.k)
      FROM unnest(taken, taken_by) AS t(k, owner)
      WHERE NOT (t.owner = ANY (found_i));
    END IF;
    queue := NULL; priority := last_p; run_at := last_r; job_id := last_i;
    job_class := NULL; args := NULL; error_count := NULL; last_error := NULL;
    locked := false; scanned := n_scanned; exhausted := stopped_in = 0;
    paused := false; limit_locks := NULL;
    IF stopped_in = 3 THEN
      rewind_priority := rewind_p; rewind_run_at := rewind_r;
      rewind_job_id := rewind_id;
    ELSIF stopped_in = 1 OR rewind_cut THEN
      rewind_priority := rw_p; rewind_run_at := rw_r; rewind_job_id := rw_i;
      IF rw_p IS NULL THEN  -- cut before its first candidate
        rewind_priority := rewind_p; rewind_run_at := rewind_r;
        rewind_job_id := rewind_id;
      END IF;
    ELSE
      rewind_priority := NULL; rewind_run_at := NULL; rewind_job_id := NULL;
    END IF;
    blocked_priorities := bl_p; blocked_run_ats := bl_r;
    blocked_job_ids := bl_i; blocked_buckets := bl_b;
    retry_in := retry;
    limit_bucket := NULL; limit_wait := NULL;
    hand_held := hand_on; change_wanted := wanted;
    -- The limits as this scan read them, hashed: a pool whose hand-off lock
    -- was let go and taken again hands on no slot taken under other limits.
    limits_version := hashtextextended(coalesce(lims::text, ''), 0);
    RETURN NEXT;
  EXCEPTION WHEN OTHERS OR query_canceled THEN
    -- Session locks outlive the failed statement: let go of every lock
    -- this call took (the jobs, the one being admitted, their slots), so
    -- that a failure never leaves a job or slot held by nobody's job. A
    -- cancel (statement_timeout) too: WHEN OTHERS alone does not catch it.
    PERFORM set_config('client_min_messages', 'error', true);
    PERFORM pg_advisory_unlock(x) FROM unnest(got_i) AS x;
    IF cur_job IS NOT NULL AND NOT (cur_job = ANY (got_i)) THEN
      PERFORM pg_advisory_unlock(cur_job);
    END IF;
    PERFORM pg_advisory_unlock(x) FROM unnest(taken) AS x;
    IF scanning THEN
      -- A set-based scan failed part way: the locks it took are in no
      -- variable. Every job of ours after its start key is in `held` (the
      -- pool lists all it holds from the scan's start on), so any other
      -- lock this session holds on one of the candidates there (the scan
      -- looked at most at max_scan of them; twice that is read, once, for
      -- rows enqueued meanwhile) is one the scan took. (A candidate
      -- deleted by another worker between the scan's snapshot and this
      -- one keeps its lock until the session ends: its id is never used
      -- again.)
      PERFORM pg_advisory_unlock(l.k)
      FROM (SELECT (a.classid::bigint << 32) | a.objid::bigint AS k
            FROM pg_locks AS a
            WHERE a.locktype = 'advisory' AND a.pid = pg_backend_pid()
            AND a.objsubid = 1 AND a.granted) AS l
      WHERE NOT (l.k = ANY (held)) AND NOT (l.k = ANY (got_i))
      AND l.k IN (SELECT j.job_id FROM que_jobs AS j
                  WHERE j.queue = q AND j.priority = p
                  AND (j.run_at, j.job_id) > (r, i)
                  ORDER BY j.run_at, j.job_id
                  LIMIT 2 * max_scan + 100);
    END IF;
    RAISE;
  END;
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
  SELECT j.priority INTO p FROM que_jobs AS j WHERE j.queue = q
  ORDER BY j.priority LIMIT 1;
  WHILE p IS NOT NULL LOOP
    SELECT j.run_at INTO r FROM que_jobs AS j
    WHERE j.queue = q AND j.priority = p AND j.run_at > t
    AND j.run_at < dead
    ORDER BY j.run_at LIMIT 1;
    IF r IS NOT NULL AND (best_r IS NULL OR r < best_r) THEN
      best_r := r;
      best_p := p;
    END IF;
    SELECT j.priority INTO p FROM que_jobs AS j
    WHERE j.queue = q AND j.priority > p
    ORDER BY j.priority LIMIT 1;
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
    SELECT j.priority INTO p FROM que_jobs AS j WHERE j.queue = q
    ORDER BY j.priority LIMIT 1;
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
      SELECT j.priority INTO p FROM que_jobs AS j
      WHERE j.queue = q AND j.priority > p
      ORDER BY j.priority LIMIT 1;
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

-- Job history: when it is on for a job's queue, the statement of a qg-cpp
-- worker that removes a finished job from que_jobs (completed; dead, out of
-- attempts; cancelled by an operator) writes the job's record here in the
-- same statement, so that a record exists if and only if the job is gone
-- (with history on, dead and cancelled jobs leave que_jobs too; `qg retry`
-- brings one back from its record). Jobs finished by Ruby Que, que-go or
-- qg workers, and jobs an operator deletes, leave no record.
--
-- The times a record needs: qg_enqueued_at (now() at the insert, whoever
-- inserts; NULL for rows that existed before the column) and
-- qg_first_started_at (set by a qg-cpp worker's first failure; a job that
-- completes on its first run takes its run's start). Added without a
-- default first, so rows that exist keep NULL and the change is the
-- catalog's only; a second run takes no lock on que_jobs.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'que_jobs'::regclass
                   AND attname = 'qg_enqueued_at' AND NOT attisdropped) THEN
    ALTER TABLE que_jobs ADD COLUMN qg_enqueued_at timestamptz, ALTER COLUMN qg_enqueued_at SET DEFAULT now();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'que_jobs'::regclass
                   AND attname = 'qg_first_started_at'
                   AND NOT attisdropped) THEN
    ALTER TABLE que_jobs ADD COLUMN qg_first_started_at timestamptz;
  END IF;
END
$$;

-- One record per finished job, keyed by its id. outcome: 'completed',
-- 'dead' or 'cancelled'. attempts: the runs it had (error_count + 1 for a
-- completed job; a job cancelled before it ran again counts only the runs
-- it had). started_at/run_time: its last run (NULL when it was cancelled
-- while waiting); finished_at: when that run ended (or when it was
-- cancelled), on the database's clock. last_error: the error it died of,
-- the cancel's message, or, for a completed job, the failure before its
-- success (NULL if none). output: the JSON its handler set
-- (`Job::SetOutput`), NULL if none. limit_key and unique_key: the job's
-- NewJob::limit_key and unique key, for `qg retry` to bring it back with
-- (a dead or cancelled unique job that leaves que_jobs frees its key
-- meanwhile).
CREATE TABLE IF NOT EXISTS qg_job_history (
  job_id           bigint      PRIMARY KEY,
  queue            text        NOT NULL,
  priority         smallint    NOT NULL,
  job_class        text        NOT NULL,
  args             json        NOT NULL,
  outcome          text        NOT NULL,
  attempts         integer     NOT NULL,
  enqueued_at      timestamptz,
  first_started_at timestamptz,
  started_at       timestamptz,
  finished_at      timestamptz NOT NULL,
  run_time         interval,
  last_error       text,
  output           json,
  limit_key        text,
  unique_key       text
);

-- Listing recent records and pruning the oldest walk this index only.
CREATE INDEX IF NOT EXISTS qg_job_history_finished_at
  ON qg_job_history (finished_at);

-- Whether history is on, per queue: qg_queues.history (NULL: as the
-- default) over qg_history_settings.all_queues (the default; off without a
-- row). Retention (one setting for every queue): records older than
-- `keep`, and the oldest beyond `max_records`, are pruned in batches by
-- qg-cpp worker pools' sweepers (and `qg history prune`); NULL: no such
-- bound.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'qg_queues'::regclass
                   AND attname = 'history' AND NOT attisdropped) THEN
    ALTER TABLE qg_queues ADD COLUMN history boolean;
  END IF;
END
$$;
CREATE TABLE IF NOT EXISTS qg_history_settings (
  singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  all_queues  boolean     NOT NULL DEFAULT false,
  keep        interval    DEFAULT '7 days',
  max_records bigint      DEFAULT 1000000 CHECK (max_records >= 0),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The queues of `qs` whose finished jobs get a record (see above): one
-- call per statement that finishes jobs, never one per job (callers pass
-- each queue once where they can; repeats are skipped). PL/pgSQL: its
-- plans are made once per session, each an index probe (a locker session
-- rules out sequential scans and sorts, and a plan that needs one would be
-- JIT-compiled on every call).
CREATE OR REPLACE FUNCTION qg_history_queues(qs text[])
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
DECLARE
  dflt boolean;
  own boolean;
  q text;
  seen text[] := '{}';
  result text[] := '{}';
BEGIN
  SELECT s.all_queues INTO dflt FROM qg_history_settings AS s
  WHERE s.singleton;
  FOREACH q IN ARRAY coalesce(qs, '{}') LOOP
    CONTINUE WHEN q = ANY (seen);
    seen := seen || q;
    own := NULL;
    SELECT x.history INTO own FROM qg_queues AS x WHERE x.queue = q;
    IF coalesce(own, dflt, false) THEN
      result := result || q;
    END IF;
  END LOOP;
  RETURN result;
END
$$;

-- Workflows: a job may wait for other jobs (its parents) to complete. A
-- waiting child is stored with run_at at '9000-01-01' (the waiting run_at,
-- before a dead job's 9999-01-01), so that no worker takes it: not a qg-cpp
-- pool, nor Ruby Que, que-go or qg, whose lock queries look only at run_at
-- <= now(). qg_parents_left counts its parents not yet settled (NULL: a job
-- that never had parents); qg_has_children marks a parent (NULL: none), so
-- that only a parent's removal does any work (qg_settle_children below).
-- Nullable, without defaults: the catalog changes only.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'que_jobs'::regclass
                   AND attname = 'qg_has_children' AND NOT attisdropped) THEN
    ALTER TABLE que_jobs ADD COLUMN qg_has_children boolean;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'que_jobs'::regclass
                   AND attname = 'qg_parents_left' AND NOT attisdropped) THEN
    ALTER TABLE que_jobs ADD COLUMN qg_parents_left integer;
  END IF;
END
$$;

-- One row per edge of a workflow: `child_id` runs after `parent_id`.
-- child_queue and child_priority, with the waiting run_at, are the child's
-- key in que_jobs while it waits: settling a parent finds each child with
-- one probe of que_jobs' primary key (Que's table has no index on job_id
-- alone). state: NULL while the parent is unsettled; 'completed', or
-- 'failed' (the parent died or was cancelled). cancel_on_failure: whether a
-- failed parent cancels the child (NewJob::on_parent_failure), else it
-- counts as settled. Rows stay while the child is in que_jobs or has a
-- history record, for GetParents() and the console.
CREATE TABLE IF NOT EXISTS qg_job_deps (
  parent_id         bigint   NOT NULL,
  child_id          bigint   NOT NULL,
  child_queue       text     NOT NULL,
  child_priority    smallint NOT NULL,
  cancel_on_failure boolean  NOT NULL DEFAULT true,
  state             text,
  PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX IF NOT EXISTS qg_job_deps_child ON qg_job_deps (child_id);

-- Settles the children of `parents` (parallel arrays: each one completed,
-- `failed` false, or died or was cancelled, `failed` true, `why` saying
-- which): marks their edges (each once: a parent settled twice changes
-- nothing), counts each waiting child down, and releases a child whose
-- count reaches 0 (run_at now(), and a NOTIFY for idle pools) in this
-- transaction. A failed parent cancels each child that asked so (the
-- default): recorded in qg_job_history when the child's queue has history
-- on, else kept like a cancelled job; a cancelled child settles its own
-- children in turn (the statement triggers below). Two statements settling
-- parents of one child: the edges' and the child's row locks, taken in
-- child order, order them; the second counts down from the first's result.
-- (These functions and the triggers below run in whatever session finishes
-- jobs, a fast pool's locker among them, whose settings rule out sorts: a
-- plan that needs one anyway costs more than JIT's threshold, so each of
-- them turns JIT off rather than compile such a plan at every call.)
DROP FUNCTION IF EXISTS qg_settle_children(bigint, boolean, text);
CREATE OR REPLACE FUNCTION qg_settle_parents(parents bigint[],
                                             failed boolean[], why text[])
RETURNS void LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
  e record;
  released record;
  hist text[];
BEGIN
  -- The unsettled edges of these parents, locked in child order (then
  -- parent order): statements settling parents of the same children take
  -- their locks in one order, so they wait for each other, never deadlock.
  FOR e IN
    SELECT d.parent_id, d.child_id, d.child_queue, d.child_priority,
           d.cancel_on_failure, p.failed, p.why
    FROM unnest(parents, failed, why) AS p(id, failed, why)
    JOIN qg_job_deps AS d ON d.parent_id = p.id
    WHERE d.state IS NULL
    ORDER BY d.child_id, d.parent_id
    FOR UPDATE OF d
  LOOP
    UPDATE qg_job_deps AS d
    SET state = CASE WHEN e.failed THEN 'failed' ELSE 'completed' END
    WHERE d.parent_id = e.parent_id AND d.child_id = e.child_id
      AND d.state IS NULL;
    CONTINUE WHEN NOT FOUND;  -- settled meanwhile
    IF e.failed AND e.cancel_on_failure THEN
      hist := qg_history_queues(ARRAY[e.child_queue]);
      IF cardinality(hist) > 0 THEN
        WITH gone AS (
          DELETE FROM que_jobs AS j
          WHERE j.queue = e.child_queue AND j.priority = e.child_priority
            AND j.run_at = '9000-01-01' AND j.job_id = e.child_id
          RETURNING j.*
        )
        INSERT INTO qg_job_history AS h
          (job_id, queue, priority, job_class, args, outcome, attempts,
           enqueued_at, finished_at, last_error, limit_key, unique_key)
        SELECT g.job_id, g.queue, g.priority, g.job_class, g.args,
               'cancelled', g.error_count, g.qg_enqueued_at,
               statement_timestamp(), 'qg: cancelled: ' || e.why,
               g.qg_limit_key, g.qg_unique_key
        FROM gone AS g
        ON CONFLICT (job_id) DO UPDATE
        SET outcome = excluded.outcome, attempts = excluded.attempts,
            finished_at = excluded.finished_at,
            last_error = excluded.last_error, output = NULL;
      ELSE
        UPDATE que_jobs AS j
        SET run_at = '9999-01-01', qg_parents_left = 0,
            last_error = 'qg: cancelled: ' || e.why
        WHERE j.queue = e.child_queue AND j.priority = e.child_priority
          AND j.run_at = '9000-01-01' AND j.job_id = e.child_id;
      END IF;
    ELSE
      UPDATE que_jobs AS j
      SET qg_parents_left = j.qg_parents_left - 1,
          run_at = CASE WHEN j.qg_parents_left <= 1 THEN now()
                        ELSE j.run_at END
      WHERE j.queue = e.child_queue AND j.priority = e.child_priority
        AND j.run_at = '9000-01-01' AND j.job_id = e.child_id
      RETURNING j.run_at, j.queue, j.priority INTO released;
      IF FOUND AND released.run_at < '9000-01-01' THEN
        PERFORM pg_notify('qg_jobs',
                          extract(epoch FROM released.run_at)::text || ':' ||
                          released.priority::text || E'\t' ||
                          left(released.queue, 7000));
      END IF;
    END IF;
  END LOOP;
END
$$;

-- Enqueues a job that runs after `parents` complete, in one statement (so
-- it is never seen runnable before its edges exist). Each parent must be in
-- que_jobs and not dead or cancelled (it is marked as a parent, under its
-- row lock, so that its removal waits for this transaction), or have
-- completed with a history record (that edge is settled already); else
-- the statement fails: SQLSTATE QG001 for an unknown parent, QG002 for one
-- that died or was cancelled. A job whose parents are all complete is
-- runnable at once (at `run_at`, NULL: now()). `batch`: the batch it
-- joins (NULL: none; see Batches below). Finds parents by id: one
-- scan of que_jobs per call (Que's table has no index on job_id alone).
DROP FUNCTION IF EXISTS qg_enqueue_child(text, smallint, timestamptz, text,
                                         json, text, bigint[], boolean);
CREATE OR REPLACE FUNCTION qg_enqueue_child(
  q text, p smallint, r timestamptz, jc text, a json, lk text,
  parents bigint[], cancel_on_failure boolean, batch bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  child bigint;
  pending integer := 0;
  par record;
  missing bigint;
  outcome text;
  seen bigint[] := '{}';
BEGIN
  INSERT INTO que_jobs (queue, priority, run_at, job_class, args,
                        qg_limit_key, qg_parents_left, qg_batch_id)
  VALUES (q, p, '9000-01-01', jc, a, lk, 0, batch)
  RETURNING job_id INTO child;
  FOR par IN
    UPDATE que_jobs AS j SET qg_has_children = true
    WHERE j.job_id = ANY (parents)
    RETURNING j.job_id, j.run_at, j.last_error
  LOOP
    IF par.run_at >= '9999-01-01' THEN
      RAISE EXCEPTION 'qg: parent job % is %', par.job_id,
        CASE WHEN par.last_error LIKE 'qg: cancelled%' THEN 'cancelled'
             ELSE 'dead' END
        USING ERRCODE = 'QG002';
    END IF;
    seen := seen || par.job_id;
    pending := pending + 1;
    INSERT INTO qg_job_deps (parent_id, child_id, child_queue,
                             child_priority, cancel_on_failure)
    VALUES (par.job_id, child, q, p, cancel_on_failure);
  END LOOP;
  FOR missing IN
    SELECT DISTINCT x FROM unnest(parents) AS x WHERE x <> ALL (seen)
  LOOP
    outcome := NULL;
    SELECT h.outcome INTO outcome FROM qg_job_history AS h
    WHERE h.job_id = missing;
    IF outcome IS NULL THEN
      RAISE EXCEPTION 'qg: parent job % does not exist (or finished '
        'without a history record)', missing USING ERRCODE = 'QG001';
    ELSIF outcome <> 'completed' THEN
      RAISE EXCEPTION 'qg: parent job % is %', missing, outcome
        USING ERRCODE = 'QG002';
    END IF;
    INSERT INTO qg_job_deps (parent_id, child_id, child_queue,
                             child_priority, cancel_on_failure, state)
    VALUES (missing, child, q, p, cancel_on_failure, 'completed');
  END LOOP;
  IF pending = 0 THEN
    UPDATE que_jobs AS j SET run_at = coalesce(r, now())
    WHERE j.queue = q AND j.priority = p AND j.run_at = '9000-01-01'
      AND j.job_id = child;
  ELSE
    UPDATE que_jobs AS j SET qg_parents_left = pending
    WHERE j.queue = q AND j.priority = p AND j.run_at = '9000-01-01'
      AND j.job_id = child;
  END IF;
  RETURN child;
END
$$;

-- Batches: jobs grouped so that callback jobs run when all of them are
-- done. que_jobs.qg_batch_id names a job's batch (NULL: none). One row per
-- batch counts its jobs: total (added), and completed, dead and cancelled
-- (settled); the rest are waiting or running. A batch takes jobs until it
-- is sealed; once sealed and every job settled, the transaction that
-- settled the last one (or sealed it) enqueues the callbacks, on_success
-- (only when none died or was cancelled) and on_finish, and sets
-- finished_at: the batch row's lock makes that one transaction. The counts
-- of a finished batch do not change any more.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'que_jobs'::regclass
                   AND attname = 'qg_batch_id' AND NOT attisdropped) THEN
    ALTER TABLE que_jobs ADD COLUMN qg_batch_id bigint;
  END IF;
  -- A batch job's record keeps its batch (written by the settling trigger
  -- below), so that a dead one brought back from it rejoins the batch.
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'qg_job_history'::regclass
                   AND attname = 'batch_id' AND NOT attisdropped) THEN
    ALTER TABLE qg_job_history ADD COLUMN batch_id bigint;
  END IF;
END
$$;

CREATE TABLE IF NOT EXISTS qg_batches (
  batch_id            bigserial   PRIMARY KEY,
  description         text        NOT NULL DEFAULT '',
  created_at          timestamptz NOT NULL DEFAULT now(),
  sealed_at           timestamptz,
  finished_at         timestamptz,
  total               bigint      NOT NULL DEFAULT 0,
  completed           bigint      NOT NULL DEFAULT 0,
  dead                bigint      NOT NULL DEFAULT 0,
  cancelled           bigint      NOT NULL DEFAULT 0,
  -- The callbacks (NULL type: none): queue, priority, type and args of
  -- each, and the job each became.
  success_queue       text,
  success_priority    smallint,
  success_type        text,
  success_args        json,
  success_job_id      bigint,
  finish_queue        text,
  finish_priority     smallint,
  finish_type         text,
  finish_args         json,
  finish_job_id       bigint
);
-- Open batches, for the console and the metrics.
CREATE INDEX IF NOT EXISTS qg_batches_open ON qg_batches (batch_id)
  WHERE finished_at IS NULL;

-- The row triggers of an earlier version of this file.
DROP TRIGGER IF EXISTS qg_job_settled_delete ON que_jobs;
DROP TRIGGER IF EXISTS qg_job_settled_dead ON que_jobs;
DROP FUNCTION IF EXISTS qg_job_settled();

-- Jobs added to open batches: one row per inserting statement and batch,
-- written without touching the batch's row, so that an enqueue whose
-- transaction stays open holds up no completion; sealing waits for such
-- enqueues (it locks the batch's row against their key-share locks) and
-- folds the rows into qg_batches.total.
CREATE TABLE IF NOT EXISTS qg_batch_adds (
  batch_id bigint NOT NULL,
  added    bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS qg_batch_adds_batch ON qg_batch_adds (batch_id);

-- A callback's args: the args given, with the batch's id appended when
-- they are a JSON array, or as "batch_id" when an object.
CREATE OR REPLACE FUNCTION qg_batch_callback_args(a json, id bigint)
RETURNS json LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE json_typeof(a)
           WHEN 'array' THEN (a::jsonb || to_jsonb(id))::json
           WHEN 'object' THEN (a::jsonb || jsonb_build_object('batch_id', id))::json
           ELSE a
         END
$$;

-- Finishes batch `b` (sealed, every job settled, not finished yet; the
-- caller holds its row lock): enqueues its callbacks and sets finished_at.
CREATE OR REPLACE FUNCTION qg_batch_finish(b qg_batches)
RETURNS void LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
  s bigint;
  f bigint;
BEGIN
  IF b.success_type IS NOT NULL AND b.dead = 0 AND b.cancelled = 0 THEN
    INSERT INTO que_jobs (queue, priority, job_class, args)
    VALUES (coalesce(b.success_queue, ''), coalesce(b.success_priority, 100),
            b.success_type,
            qg_batch_callback_args(coalesce(b.success_args, '[]'),
                                   b.batch_id))
    RETURNING job_id INTO s;
  END IF;
  IF b.finish_type IS NOT NULL THEN
    INSERT INTO que_jobs (queue, priority, job_class, args)
    VALUES (coalesce(b.finish_queue, ''), coalesce(b.finish_priority, 100),
            b.finish_type,
            qg_batch_callback_args(coalesce(b.finish_args, '[]'),
                                   b.batch_id))
    RETURNING job_id INTO f;
  END IF;
  UPDATE qg_batches AS x
  SET finished_at = now(), success_job_id = s, finish_job_id = f
  WHERE x.batch_id = b.batch_id;
END
$$;

-- Counts jobs of batch `id` settled (or, negative, unsettled again: a dead
-- job retried) and finishes the batch when that settled its last job. A
-- finished batch is left as it is. Callers settle several batches in
-- batch_id order.
CREATE OR REPLACE FUNCTION qg_batch_settle(id bigint, d_completed integer,
                                           d_dead integer,
                                           d_cancelled integer)
RETURNS void LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
  b qg_batches;
BEGIN
  UPDATE qg_batches AS x
  SET completed = x.completed + d_completed, dead = x.dead + d_dead,
      cancelled = x.cancelled + d_cancelled
  WHERE x.batch_id = id AND x.finished_at IS NULL
  RETURNING x.* INTO b;
  IF FOUND AND b.sealed_at IS NOT NULL
     AND b.completed + b.dead + b.cancelled >= b.total THEN
    PERFORM qg_batch_finish(b);
  END IF;
END
$$;

-- Seals batch `id` (no more jobs; sealing twice changes nothing): waits for
-- enqueues into it still open (its row lock against their key-share
-- locks), folds what they added into total, and finishes it at once when
-- every job it has is settled (an empty batch included). SQLSTATE QG003:
-- no such batch.
CREATE OR REPLACE FUNCTION qg_batch_seal(id bigint)
RETURNS void LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
  b qg_batches;
  more bigint;
BEGIN
  PERFORM 1 FROM qg_batches AS x WHERE x.batch_id = id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'qg: no batch %', id USING ERRCODE = 'QG003';
  END IF;
  WITH folded AS (
    DELETE FROM qg_batch_adds AS a WHERE a.batch_id = id RETURNING a.added
  )
  SELECT coalesce(sum(folded.added), 0) INTO more FROM folded;
  UPDATE qg_batches AS x
  SET sealed_at = coalesce(x.sealed_at, now()), total = x.total + more
  WHERE x.batch_id = id
  RETURNING x.* INTO b;
  IF b.finished_at IS NULL AND b.completed + b.dead + b.cancelled >= b.total
  THEN
    PERFORM qg_batch_finish(b);
  END IF;
END
$$;

-- Jobs inserted into a batch (any insert: INSERT, COPY) are added to it in
-- the inserting statement, under a key-share lock of its row (which no
-- completion waits for); a batch that does not exist (QG003) or is sealed
-- (QG004) fails the statement. One pass over the statement's new rows
-- (the transition table the NOTIFY trigger reads too).
CREATE OR REPLACE FUNCTION qg_batch_added()
RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
  a record;
BEGIN
  FOR a IN
    SELECT n.qg_batch_id AS id, count(*) AS added FROM qg_batch_new AS n
    WHERE n.qg_batch_id IS NOT NULL
    GROUP BY n.qg_batch_id ORDER BY n.qg_batch_id
  LOOP
    PERFORM 1 FROM qg_batches AS x
    WHERE x.batch_id = a.id AND x.sealed_at IS NULL
    FOR KEY SHARE;
    IF NOT FOUND THEN
      IF EXISTS (SELECT 1 FROM qg_batches AS x WHERE x.batch_id = a.id) THEN
        RAISE EXCEPTION 'qg: batch % is sealed: it takes no more jobs', a.id
          USING ERRCODE = 'QG004';
      END IF;
      RAISE EXCEPTION 'qg: no batch %', a.id USING ERRCODE = 'QG003';
    END IF;
    INSERT INTO qg_batch_adds (batch_id, added) VALUES (a.id, a.added);
  END LOOP;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS qg_batch_added ON que_jobs;
CREATE TRIGGER qg_batch_added
  AFTER INSERT ON que_jobs
  REFERENCING NEW TABLE AS qg_batch_new
  FOR EACH STATEMENT EXECUTE FUNCTION qg_batch_added();

-- Settling, whoever finishes a job (a qg-cpp pool on either path, Ruby
-- Que, que-go, qg, an operator): statement triggers on que_jobs, so that a
-- statement that finishes many jobs settles their children in child order
-- and their batches in batch order (statements finishing jobs at once
-- wait for each other, never deadlock), and so that statements touching
-- no parent, child or batch job stop after one pass over their rows.
--
-- Rows leaving que_jobs: how each ended is its history record's outcome;
-- without one, a job waiting for its parents was cancelled (deleted by an
-- operator) and any other completed (Que's way). A row at a dead job's
-- run_at was settled when it got there.
CREATE OR REPLACE FUNCTION qg_jobs_deleted()
RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
  s record;
  parents bigint[];
  failed boolean[];
  why text[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM qg_gone AS g
                 WHERE g.qg_has_children OR g.qg_parents_left IS NOT NULL
                    OR g.qg_batch_id IS NOT NULL) THEN
    RETURN NULL;
  END IF;
  SELECT array_agg(x.job_id ORDER BY x.job_id),
         array_agg(x.outcome <> 'completed' ORDER BY x.job_id),
         array_agg(format('parent job %s %s', x.job_id, x.outcome)
                   ORDER BY x.job_id)
  INTO parents, failed, why
  FROM (
    SELECT g.job_id,
           coalesce(h.outcome, CASE WHEN g.run_at = '9000-01-01'
                                    THEN 'cancelled' ELSE 'completed' END)
             AS outcome
    FROM qg_gone AS g
    LEFT JOIN qg_job_history AS h ON h.job_id = g.job_id
    WHERE g.qg_has_children AND g.run_at < '9999-01-01'
  ) AS x;
  IF parents IS NOT NULL THEN
    PERFORM qg_settle_parents(parents, failed, why);
  END IF;
  FOR s IN
    SELECT x.batch_id AS id,
           count(*) FILTER (WHERE x.outcome = 'completed') AS c,
           count(*) FILTER (WHERE x.outcome = 'dead') AS d,
           count(*) FILTER (WHERE x.outcome = 'cancelled') AS k
    FROM (
      SELECT g.qg_batch_id AS batch_id,
             coalesce(h.outcome, CASE WHEN g.run_at = '9000-01-01'
                                      THEN 'cancelled' ELSE 'completed' END)
               AS outcome
      FROM qg_gone AS g
      LEFT JOIN qg_job_history AS h ON h.job_id = g.job_id
      WHERE g.qg_batch_id IS NOT NULL AND g.run_at < '9999-01-01'
    ) AS x
    GROUP BY x.batch_id
    ORDER BY x.batch_id
  LOOP
    PERFORM qg_batch_settle(s.id, s.c::integer, s.d::integer, s.k::integer);
  END LOOP;
  -- A batch job's record keeps its batch.
  UPDATE qg_job_history AS h SET batch_id = g.qg_batch_id
  FROM qg_gone AS g
  WHERE g.qg_batch_id IS NOT NULL AND h.job_id = g.job_id;
  -- Children that left without a record take their edges along.
  DELETE FROM qg_job_deps AS d
  WHERE d.child_id IN (
    SELECT g.job_id FROM qg_gone AS g
    WHERE g.qg_parents_left IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM qg_job_history AS h
                      WHERE h.job_id = g.job_id));
  RETURN NULL;
END
$$;

-- Rows updated: a job reaching a dead job's run_at died or was cancelled
-- (its last_error says which): its children and batch are settled; one
-- coming back from there (retried) waits in its batch again; one kept
-- there whose last_error changed from dead to cancelled (or back) moves
-- between its batch's counts; a waiting child whose queue or priority
-- changed keeps its edges pointing at it.
CREATE OR REPLACE FUNCTION qg_jobs_updated()
RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
  s record;
  parents bigint[];
  why text[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM qg_new AS n
                 WHERE n.qg_has_children OR n.qg_parents_left IS NOT NULL
                    OR n.qg_batch_id IS NOT NULL) THEN
    RETURN NULL;
  END IF;
  UPDATE qg_job_deps AS d
  SET child_queue = p.queue, child_priority = p.priority
  FROM (
    SELECT n.job_id, n.queue, n.priority
    FROM qg_new AS n JOIN qg_old AS o ON o.job_id = n.job_id
    WHERE n.qg_parents_left IS NOT NULL
      AND (o.queue, o.priority) IS DISTINCT FROM (n.queue, n.priority)
  ) AS p
  WHERE d.child_id = p.job_id;
  SELECT array_agg(n.job_id ORDER BY n.job_id),
         array_agg(format('parent job %s %s', n.job_id,
                          CASE WHEN coalesce(n.last_error LIKE 'qg: cancelled%',
                                             false)
                               THEN 'cancelled' ELSE 'dead' END)
                   ORDER BY n.job_id)
  INTO parents, why
  FROM qg_new AS n JOIN qg_old AS o ON o.job_id = n.job_id
  WHERE n.qg_has_children AND o.run_at < '9999-01-01'
    AND n.run_at >= '9999-01-01';
  IF parents IS NOT NULL THEN
    PERFORM qg_settle_parents(parents,
                              array_fill(true, ARRAY[cardinality(parents)]),
                              why);
  END IF;
  FOR s IN
    SELECT x.batch_id AS id,
           sum(x.new_dead - x.old_dead) AS d,
           sum(x.new_cancelled - x.old_cancelled) AS k
    FROM (
      SELECT n.qg_batch_id AS batch_id,
             (o.run_at >= '9999-01-01'
              AND NOT coalesce(o.last_error LIKE 'qg: cancelled%', false)
             )::integer AS old_dead,
             (o.run_at >= '9999-01-01'
              AND coalesce(o.last_error LIKE 'qg: cancelled%', false)
             )::integer AS old_cancelled,
             (n.run_at >= '9999-01-01'
              AND NOT coalesce(n.last_error LIKE 'qg: cancelled%', false)
             )::integer AS new_dead,
             (n.run_at >= '9999-01-01'
              AND coalesce(n.last_error LIKE 'qg: cancelled%', false)
             )::integer AS new_cancelled
      FROM qg_new AS n JOIN qg_old AS o ON o.job_id = n.job_id
      WHERE n.qg_batch_id IS NOT NULL
        AND (o.run_at >= '9999-01-01' OR n.run_at >= '9999-01-01')
    ) AS x
    GROUP BY x.batch_id
    ORDER BY x.batch_id
  LOOP
    IF s.d <> 0 OR s.k <> 0 THEN
      PERFORM qg_batch_settle(s.id, 0, s.d::integer, s.k::integer);
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS qg_jobs_deleted ON que_jobs;
CREATE TRIGGER qg_jobs_deleted
  AFTER DELETE ON que_jobs
  REFERENCING OLD TABLE AS qg_gone
  FOR EACH STATEMENT EXECUTE FUNCTION qg_jobs_deleted();
DROP TRIGGER IF EXISTS qg_jobs_updated ON que_jobs;
CREATE TRIGGER qg_jobs_updated
  AFTER UPDATE ON que_jobs
  REFERENCING OLD TABLE AS qg_old NEW TABLE AS qg_new
  FOR EACH STATEMENT EXECUTE FUNCTION qg_jobs_updated();

-- A history record pruned (or taken back by a retry) takes its job's edges
-- to its parents along.
-- A dead or cancelled batch job brought back from its record (the record
-- deleted, the job inserted again at now() by the same statement) rejoins
-- its batch, where it waits again.
CREATE OR REPLACE FUNCTION qg_history_deleted()
RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
  r record;
BEGIN
  DELETE FROM qg_job_deps AS d
  WHERE d.child_id IN (SELECT g.job_id FROM qg_history_gone AS g);
  FOR r IN
    SELECT g.job_id, g.queue, g.priority, g.batch_id, g.outcome
    FROM qg_history_gone AS g
    WHERE g.batch_id IS NOT NULL AND g.outcome IN ('dead', 'cancelled')
    ORDER BY g.batch_id, g.job_id
  LOOP
    UPDATE que_jobs AS j SET qg_batch_id = r.batch_id
    WHERE j.queue = r.queue AND j.priority = r.priority AND j.run_at = now()
      AND j.job_id = r.job_id AND j.qg_batch_id IS NULL;
    IF FOUND THEN
      PERFORM qg_batch_settle(r.batch_id, 0, -(r.outcome = 'dead')::integer,
                              -(r.outcome = 'cancelled')::integer);
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS qg_history_deleted ON qg_job_history;
CREATE TRIGGER qg_history_deleted
  AFTER DELETE ON qg_job_history
  REFERENCING OLD TABLE AS qg_history_gone
  FOR EACH STATEMENT EXECUTE FUNCTION qg_history_deleted();

-- Who each function runs as, and where it looks names up (issue 21,
-- least-privilege roles: `qg grants` prints the GRANTs that go with this).
-- Applied here, after every function exists, because CREATE OR REPLACE
-- resets both: until this block runs (in `qg migrate`'s transaction) each
-- function is SECURITY INVOKER, never a definer with an open search_path.
--
-- SECURITY DEFINER (runs as the owner, the role that ran `qg migrate`), for
-- the functions that keep qg-cpp's own bookkeeping consistent whoever
-- changes que_jobs, so that no role needs write access to that bookkeeping:
--   qg_enqueue_child   an enqueuer adds a waiting child and marks its
--                      parents without UPDATE on que_jobs (which would let
--                      it change any job) or any access to qg_job_deps;
--   qg_batch_seal      an enqueuer seals its batch without UPDATE on
--                      qg_batches or DELETE on qg_batch_adds;
--   qg_batch_added, qg_jobs_deleted, qg_jobs_updated, qg_history_deleted
--                      (trigger functions: they run only as the triggers of
--                      a statement the caller was allowed to make, and act
--                      only on its rows) settle workflows and batches for
--                      whoever inserts, finishes, retries or prunes jobs: a
--                      worker, an operator, or a Ruby Que, que-go or qg
--                      worker whose role was granted que_jobs alone.
-- Every other function is SECURITY INVOKER, deliberately: each does only
-- what its caller's own grants allow (the lock scan, the sweep, limits'
-- admission writing the caller's qg_limit_rates rows, the history queues,
-- the NOTIFY trigger), or is a helper that runs inside the definers above
-- (qg_settle_parents, qg_batch_settle, qg_batch_finish), where it acts as
-- the owner too and, called directly, as its caller.
--
-- PUBLIC may execute a new function; a definer's EXECUTE is taken from
-- PUBLIC here and given by `qg grants` (to the enqueuer and the worker).
-- Once only: the first migrate that makes qg_enqueue_child and
-- qg_batch_seal definers gives EXECUTE on them to the roles that hold
-- INSERT on que_jobs, or UPDATE on qg_batches, respectively (those that
-- could call them as invokers), so that no enqueuer of an existing
-- deployment loses them; PUBLIC keeps EXECUTE where PUBLIC holds that
-- privilege itself. (The trigger functions cannot be called but as
-- triggers: their EXECUTE does not matter.)
--
-- search_path, pinned (`SET search_path`) to the schema the functions live
-- in, which is where this file put qg-cpp's tables (the first schema of the
-- migrating session's search_path: `public` in a database with the
-- defaults), and que_jobs' own schema when that is another; found when
-- this block runs, not written here. Built-ins first and temporary objects
-- last, `pg_catalog, <schema>, pg_temp`, so that no object a caller can
-- create (a temporary table, a function in a schema it may write) is
-- resolved in place of the ones meant while the function runs, as the
-- owner above all: every function a definer calls or fires has this pin.
-- One exception, the three functions that read the database's clock for a
-- worker's lock path, qg_lock_jobs, qg_sweep and qg_next_due: `<schema>,
-- pg_catalog, pg_temp`. No definer reaches them, so they only ever run
-- with the rights of the worker that calls them, and their schema first
-- keeps the clock the way the database's search_path defines it, as in a
-- database that names its schema before pg_catalog (the clock-skew tests
-- do, with a now() of their own in public); keep that schema unwritable
-- by other roles (PostgreSQL 15's default for public), as for every
-- statement qg-cpp sends.
--
-- A pinned call costs about 1 microsecond more (setting and restoring the
-- path; measured: 100,000 calls of a trivial PL/pgSQL function in 25 ms
-- unpinned, 145 ms pinned): per lock scan, per admission of a limited
-- job, per completion statement. qg_limit_bucket and qg_limit_lock_key are
-- left unpinned: a function with a SET clause is never inlined, and their
-- inlining is what makes them cheap per candidate (see each). Both are
-- INVOKER, IMMUTABLE SQL of built-ins (and qg_limit_bucket_args), resolved
-- where they are inlined: in qg_lock_jobs, under its pin, or in a
-- caller's statement beside the tables that statement names.
DO $$
DECLARE
  home oid := (SELECT n.oid FROM pg_namespace AS n
               WHERE n.nspname = current_schema());
  jobs_ns oid := (SELECT c.relnamespace FROM pg_class AS c
                  WHERE c.oid = 'que_jobs'::regclass);
  schemas text;
  f record;
  g record;
  keep_public boolean;
BEGIN
  schemas := quote_ident(current_schema());
  IF jobs_ns <> home THEN
    schemas := schemas || ', '
               || quote_ident((SELECT n.nspname FROM pg_namespace AS n
                               WHERE n.oid = jobs_ns));
  END IF;
  FOR f IN
    SELECT p.oid::regprocedure AS fn, p.proacl, p.proowner, x.definer,
           x.schema_first, x.granted_by_table, x.granted_by_privilege
    FROM (VALUES
      -- name, definer, schema first, EXECUTE carried over from
      ('qg_lock_job', false, false, NULL, NULL),
      ('qg_notify_jobs', false, false, NULL, NULL),
      ('qg_queue_limits', false, false, NULL, NULL),
      ('qg_limit_bucket_args', false, false, NULL, NULL),
      ('qg_limit_admit', false, false, NULL, NULL),
      ('qg_limit_hand', false, false, NULL, NULL),
      ('qg_lock_jobs', false, true, NULL, NULL),
      ('qg_rows_where_read', false, false, NULL, NULL),
      ('qg_next_due', false, true, NULL, NULL),
      ('qg_sweep', false, true, NULL, NULL),
      ('qg_history_queues', false, false, NULL, NULL),
      ('qg_settle_parents', false, false, NULL, NULL),
      ('qg_batch_callback_args', false, false, NULL, NULL),
      ('qg_batch_finish', false, false, NULL, NULL),
      ('qg_batch_settle', false, false, NULL, NULL),
      ('qg_enqueue_child', true, false, 'que_jobs', 'INSERT'),
      ('qg_batch_seal', true, false, 'qg_batches', 'UPDATE'),
      ('qg_batch_added', true, false, NULL, NULL),
      ('qg_jobs_deleted', true, false, NULL, NULL),
      ('qg_jobs_updated', true, false, NULL, NULL),
      ('qg_history_deleted', true, false, NULL, NULL)
    ) AS x(name, definer, schema_first, granted_by_table,
           granted_by_privilege)
    JOIN pg_proc AS p ON p.proname = x.name AND p.pronamespace = home
  LOOP
    EXECUTE format('ALTER FUNCTION %s %s SET search_path = %s', f.fn,
                   CASE WHEN f.definer THEN 'SECURITY DEFINER'
                        ELSE 'SECURITY INVOKER' END,
                   CASE WHEN f.schema_first
                        THEN schemas || ', pg_catalog, pg_temp'
                        ELSE 'pg_catalog, ' || schemas || ', pg_temp' END);
    CONTINUE WHEN f.granted_by_table IS NULL
      OR NOT EXISTS (SELECT 1
                     FROM aclexplode(coalesce(f.proacl,
                                              acldefault('f', f.proowner)))
                       AS a
                     WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE');
    keep_public := false;
    FOR g IN
      SELECT DISTINCT a.grantee
      FROM pg_class AS c, aclexplode(c.relacl) AS a
      WHERE c.oid = f.granted_by_table::regclass
        AND a.privilege_type = f.granted_by_privilege
        AND a.grantee <> c.relowner
    LOOP
      IF g.grantee = 0 THEN
        keep_public := true;
      ELSE
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', f.fn,
                       g.grantee::regrole);
      END IF;
    END LOOP;
    IF NOT keep_public THEN
      EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f.fn);
    END IF;
  END LOOP;
END
$$;
