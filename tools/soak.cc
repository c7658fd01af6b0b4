// soak: a chaos run. Several worker processes and enqueuers work one queue on
// an embedded PostgreSQL (or $DATABASE_URL) while the run SIGKILLs workers,
// terminates backends and restarts PostgreSQL at random. At the end it checks
// that every enqueued job's effect was recorded at least once, that no job is
// left locked or stuck and that no advisory lock is held, and prints the
// figures. Exit code 0 only when nothing was lost or stuck and every job that
// ran twice was in flight when a chaos event hit its worker.
//
//   bazel run -c opt //tools:soak -- --duration 600
//
// With --failover=sync (or async) the chaos is failovers instead: the run
// boots a primary and a streaming hot standby (synchronous or asynchronous
// replication), 2 enqueuer and 3 worker processes work through both hosts
// (target_session_attrs=read-write), and every --failover_every seconds the
// primary stops at once, the standby is promoted and the old primary comes
// back as the new standby (a fresh base backup). Enqueues and runs are
// recorded in files, not in the database a failover may roll back. See
// RunFailoverSoak().
//
//   bazel run -c opt //tools:soak -- --failover=sync --duration 600
//
// Roles: the orchestrator (default), `--role=worker` (a worker process it
// starts; the crash tests start it too) and `--role=enqueuer` (failover
// runs).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "qg/client.h"
#include "qg/conninfo.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/pg.h"
#include "qg/worker/worker.h"

ABSL_FLAG(std::string, role, "orchestrator", "orchestrator or worker");
ABSL_FLAG(std::string, db, "",
          "conninfo (worker role; orchestrator: "
          "default $DATABASE_URL or an embedded server)");
ABSL_FLAG(int, duration, 60, "seconds of chaos (orchestrator)");
ABSL_FLAG(int, processes, 3, "worker processes (orchestrator)");
ABSL_FLAG(int, threads, 4, "worker threads per process");
ABSL_FLAG(int, enqueuers, 2, "enqueuer threads (orchestrator)");
ABSL_FLAG(std::string, mode, "mixed",
          "fast, qg-compat, or mixed (processes alternate)");
ABSL_FLAG(int, handler_ms, 3, "longest a handler sleeps, in ms (random)");
ABSL_FLAG(uint64_t, seed, 0, "random seed; 0: from the clock");
ABSL_FLAG(std::string, failover, "",
          "sync or async: failovers to a streaming standby instead of the "
          "chaos (orchestrator)");
ABSL_FLAG(int, failover_every, 20, "seconds between failovers");
ABSL_FLAG(std::string, record, "",
          "worker/enqueuer roles: the file runs or enqueues are appended to "
          "(failover runs)");
ABSL_FLAG(int, enqueuer, 0, "enqueuer role: its number");
ABSL_FLAG(int, sessions, 1,
          "fast worker processes: WorkerOptions::sessions (lanes per pool)");

namespace {

using qg::PgConnPtr;

// Every run of a job leaves an effect (when its handler started and ended,
// and which worker process ran it); every chaos action leaves an event
// (which worker process it hit; NULL: all of them). A job that ran twice is
// explained only by an event that hit the first run's worker while that run
// was in flight (see kUnexplainedDuplicates).
constexpr char kSetup[] = R"sql(
CREATE TABLE IF NOT EXISTS qg_soak_enqueued (job_id bigint PRIMARY KEY);
CREATE TABLE IF NOT EXISTS qg_soak_effects (
  id bigserial PRIMARY KEY,
  job_id bigint NOT NULL,
  worker int NOT NULL,
  started_at timestamptz NOT NULL,
  done_at timestamptz);
CREATE TABLE IF NOT EXISTS qg_soak_events (
  began timestamptz NOT NULL,
  ended timestamptz NOT NULL,
  kind text NOT NULL,
  worker int);
)sql";

// Runs of a job after the first whose earlier run no chaos event can
// explain: no event that hit that run's worker (or all workers) overlaps the
// time from the start of the earlier run to the start of the later one.
constexpr char kUnexplainedDuplicates[] = R"sql(
WITH runs AS (
  SELECT job_id, worker, started_at,
         row_number() OVER (PARTITION BY job_id ORDER BY started_at, id) AS n
  FROM qg_soak_effects
), pairs AS (
  SELECT a.job_id, a.worker, b.worker AS next_worker,
         a.started_at AS first_start, b.started_at AS next_start
  FROM runs a JOIN runs b ON b.job_id = a.job_id AND b.n = a.n + 1
)
SELECT count(*),
       coalesce(string_agg(job_id::text || '@' || worker::text || '>' ||
                           next_worker::text, ',')
                FILTER (WHERE true), '')
FROM pairs p
WHERE NOT EXISTS (
  SELECT 1 FROM qg_soak_events e
  WHERE (e.worker IS NULL OR e.worker = p.worker)
  AND e.ended >= p.first_start
  AND e.began <= p.next_start)
)sql";

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// ---------------------------------------------------------------------------
// worker role

int RunWorker() {
  std::string db = absl::GetFlag(FLAGS_db);
  int threads = absl::GetFlag(FLAGS_threads);
  int handler_ms = absl::GetFlag(FLAGS_handler_ms);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  // Names this process's sessions, so that the orchestrator knows whose
  // backend it terminates.
  setenv("PGAPPNAME", absl::StrCat("qg-soak-", getpid()).c_str(), 1);
  qg::ClientOptions options;
  options.conninfo = db;
  options.max_conns = threads + 2;
  options.acquire_timeout = absl::Seconds(5);
  options.backoff = [](int32_t) { return absl::Milliseconds(200); };
  // The server may be restarting: keep trying to connect.
  std::unique_ptr<qg::Client> client;
  while (!g_stop) {
    auto c = qg::Client::Create(options);
    if (c.ok()) {
      client = std::move(*c);
      break;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  if (client == nullptr) return 0;
  int me = static_cast<int>(getpid());
  qg::WorkMap work_map;
  const std::string record = absl::GetFlag(FLAGS_record);
  int record_fd = -1;
  if (!record.empty()) {
    record_fd = open(record.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (record_fd < 0) {
      fprintf(stderr, "soak worker: cannot open %s\n", record.c_str());
      return 1;
    }
  }
  if (record_fd >= 0) {
    // Failover runs: a run is a line "R <args> <worker> <start us> <end
    // us>", appended (one write) when the handler ends; the database may
    // lose what a failover rolls back, the file does not.
    work_map.Register("Soak", [&](qg::Job& job) -> absl::Status {
      int64_t started = absl::ToUnixMicros(absl::Now());
      thread_local std::mt19937 rng(std::random_device{}());
      if (handler_ms > 0) {
        absl::SleepFor(absl::Microseconds(rng() % (handler_ms * 1000)));
      }
      std::string line =
          absl::StrCat("R ", job.args(), " ", me, " ", started, " ",
                       absl::ToUnixMicros(absl::Now()), "\n");
      if (write(record_fd, line.data(), line.size()) !=
          static_cast<ssize_t>(line.size())) {
        return absl::InternalError("cannot record the run");
      }
      return absl::OkStatus();
    });
  } else {
    work_map.Register("Soak", [&](qg::Job& job) -> absl::Status {
      // The effect commits on its own (not in the job's transaction), so a job
      // in flight when its worker dies may record its effect twice.
      std::string started = qg::FormatTimestamp(absl::Now());
      PGconn* conn = job.Conn();
      if (conn == nullptr) return absl::UnavailableError("no connection");
      absl::StatusOr<qg::PgResult> effect =
          qg::Exec(conn,
                   "INSERT INTO qg_soak_effects (job_id, worker, started_at) "
                   "VALUES ($1, $2, $3) RETURNING id",
                   {absl::StrCat(job.id()), absl::StrCat(me), started});
      if (!effect.ok()) return effect.status();
      thread_local std::mt19937 rng(std::random_device{}());
      if (handler_ms > 0) {
        absl::SleepFor(absl::Microseconds(rng() % (handler_ms * 1000)));
      }
      return qg::Exec(conn,
                      "UPDATE qg_soak_effects SET done_at = "
                      "clock_timestamp() WHERE id = $1",
                      {std::string(effect->Get(0, 0))})
          .status();
    });
  }
  qg::WorkerOptions wopts;
  std::string mode = absl::GetFlag(FLAGS_mode);
  wopts.mode =
      mode == "qg-compat" ? qg::WorkerMode::kQgCompat : qg::WorkerMode::kFast;
  wopts.interval = absl::Milliseconds(100);
  wopts.sessions = absl::GetFlag(FLAGS_sessions);
  qg::WorkerPool pool(client.get(), &work_map, threads, wopts);
  if (absl::Status s = pool.Start(); !s.ok()) {
    fprintf(stderr, "soak worker: %s\n", s.ToString().c_str());
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  while (!g_stop) absl::SleepFor(absl::Milliseconds(50));
  pool.Shutdown(absl::Seconds(5));
  return 0;
}

// ---------------------------------------------------------------------------
// orchestrator

struct Counters {
  std::atomic<int64_t> enqueued{0}, enqueue_errors{0}, kills{0}, restarts{0},
      terminated{0};
};

pid_t SpawnWorker(const std::string& self, const std::string& db,
                  const std::string& mode) {
  pid_t pid = fork();
  if (pid == 0) {
    std::string a1 = "--role=worker", a2 = "--db=" + db,
                a3 = absl::StrCat("--threads=", absl::GetFlag(FLAGS_threads)),
                a4 = "--mode=" + mode,
                a5 = absl::StrCat("--handler_ms=",
                                  absl::GetFlag(FLAGS_handler_ms)),
                a6 = absl::StrCat("--sessions=", absl::GetFlag(FLAGS_sessions));
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    execl(self.c_str(), "soak-worker", a1.c_str(), a2.c_str(), a3.c_str(),
          a4.c_str(), a5.c_str(), a6.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  fprintf(stderr, "soak: worker %d is %s\n", static_cast<int>(pid),
          mode.c_str());
  return pid;
}

// Runs `sql` on a fresh connection, retrying while the server restarts.
absl::StatusOr<qg::PgResult> ExecRetrying(const std::string& db,
                                          const std::string& sql,
                                          absl::Duration patience) {
  absl::Time deadline = absl::Now() + patience;
  absl::Status last;
  while (absl::Now() < deadline) {
    auto conn = qg::Connect(db);
    if (conn.ok()) {
      auto r = qg::Exec(conn->get(), sql);
      if (r.ok()) return r;
      last = r.status();
    } else {
      last = conn.status();
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  return last;
}

// Records a chaos event that hit `worker` (nullopt: every worker) from
// `began` to `ended`.
void RecordEvent(const std::string& db, const char* kind,
                 std::optional<int64_t> worker, absl::Time began,
                 absl::Time ended) {
  auto r = ExecRetrying(
      db,
      absl::StrCat("INSERT INTO qg_soak_events (began, ended, kind, worker) "
                   "VALUES ('",
                   qg::FormatTimestamp(began), "', '",
                   qg::FormatTimestamp(ended), "', '", kind, "', ",
                   worker ? absl::StrCat(*worker) : "NULL", ")"),
      absl::Seconds(30));
  CHECK(r.ok()) << r.status();
}

int64_t Number(const std::string& db, const std::string& sql) {
  auto r = ExecRetrying(db, sql, absl::Seconds(30));
  CHECK(r.ok()) << sql << ": " << r.status();
  int64_t n = 0;
  CHECK(absl::SimpleAtoi(r->Get(0, 0), &n)) << sql;
  return n;
}

// The database a run uses: --db or $DATABASE_URL, else an embedded server
// of its own (which only then the chaos restarts).
struct Database {
  std::string conninfo;
  std::unique_ptr<qg::EmbeddedPostgres> server;  // null: not the run's own
};

absl::StatusOr<Database> OpenDatabase() {
  Database d;
  d.conninfo = qg::ResolveConninfo(absl::GetFlag(FLAGS_db)).value_or("");
  if (!d.conninfo.empty()) return d;
  absl::StatusOr<std::unique_ptr<qg::EmbeddedPostgres>> s =
      qg::EmbeddedPostgres::Start();
  if (!s.ok()) return s.status();
  d.server = std::move(*s);
  d.conninfo = d.server->conninfo();
  return d;
}

// Creates the soak's tables, and empties them and the queue of soak jobs.
void PrepareTables(const std::string& db) {
  auto conn = qg::Connect(db);
  CHECK(conn.ok()) << conn.status();
  CHECK(qg::ExecSimple(conn->get(), kSetup).ok());
  CHECK(qg::ExecSimple(
            conn->get(),
            "TRUNCATE qg_soak_enqueued, qg_soak_effects, qg_soak_events; "
            "DELETE FROM que_jobs WHERE job_class = 'Soak'")
            .ok());
}

// This binary's path, which worker processes are started from.
std::string SelfPath() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  CHECK_GT(n, 0);
  self[n] = '\0';
  return self;
}

// The worker processes: started, killed and started again, stopped.
class Workers {
 public:
  // Starts --processes workers in --mode ("mixed": fast and qg-compat in
  // turn).
  Workers(std::string db, std::string mode)
      : self_(SelfPath()), db_(std::move(db)), mode_(std::move(mode)) {
    pids_.resize(absl::GetFlag(FLAGS_processes));
    for (int i = 0; i < size(); ++i)
      pids_[i] = SpawnWorker(self_, db_, ModeOf(i));
  }

  int size() const { return static_cast<int>(pids_.size()); }

  // SIGKILLs worker `i`, records the event and starts another in its place.
  void Kill(int i) {
    absl::Time began = absl::Now();
    kill(pids_[i], SIGKILL);
    waitpid(pids_[i], nullptr, 0);
    RecordEvent(db_, "kill", pids_[i], began, absl::Now());
    pids_[i] = SpawnWorker(self_, db_, ModeOf(i));
  }

  // Stops every worker gracefully (SIGTERM) and waits for it.
  void Stop() {
    for (pid_t pid : pids_) kill(pid, SIGTERM);
    for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  }

 private:
  std::string ModeOf(int i) const {
    if (mode_ == "mixed") return i % 2 == 0 ? "fast" : "qg-compat";
    return mode_;
  }

  const std::string self_, db_, mode_;
  std::vector<pid_t> pids_;
};

// Enqueues ten jobs and their record in one transaction on `conn`, so that
// acknowledged jobs are exactly the recorded ones. Returns how many it
// enqueued, or why the transaction failed.
absl::StatusOr<int64_t> EnqueueTen(qg::Client& client, PGconn* conn,
                                   int enqueuer) {
  auto tx = qg::PgTx::Begin(conn);
  if (!tx.ok()) return tx.status();
  std::vector<int64_t> ids;
  for (int i = 0; i < 10; ++i) {
    auto id = client.EnqueueInTx(
        {.type = "Soak", .args = absl::StrCat("[", enqueuer, "]")}, **tx);
    if (!id.ok()) return id.status();
    ids.push_back(*id);
    absl::Status s = (*tx)
                         ->Query("INSERT INTO qg_soak_enqueued VALUES ($1)",
                                 {absl::StrCat(*id)})
                         .status();
    if (!s.ok()) return s;
  }
  if (absl::Status s = (*tx)->Commit(); !s.ok()) return s;
  return static_cast<int64_t>(ids.size());
}

// One enqueuer thread: transactions of ten jobs until `stop`, connecting
// again whenever the server went away.
void RunEnqueuer(const std::string& db, int enqueuer,
                 const std::atomic<bool>& stop, Counters& counters) {
  std::unique_ptr<qg::Client> client;
  PgConnPtr conn;
  while (!stop) {
    if (client == nullptr) {
      auto c = qg::Client::Create({.conninfo = db, .max_conns = 1});
      if (!c.ok()) {
        absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
      client = std::move(*c);
    }
    if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
      auto c = qg::Connect(db);
      if (!c.ok()) {
        absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
      conn = std::move(*c);
    }
    absl::StatusOr<int64_t> enqueued =
        EnqueueTen(*client, conn.get(), enqueuer);
    if (enqueued.ok()) {
      counters.enqueued += *enqueued;
    } else {
      ++counters.enqueue_errors;
      conn.reset();
      absl::SleepFor(absl::Milliseconds(50));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

// Terminates a random client backend of the database and records whose
// worker process it served (its application_name says). The event ends once
// the backend is gone (pg_terminate_backend waits up to 10 s), not when the
// signal was sent: its locks live until then.
void TerminateBackend(const std::string& db, Counters& counters) {
  absl::Time began = absl::Now();
  auto r = ExecRetrying(
      db,
      "SELECT count(pg_terminate_backend(pid, 10000)), "
      "coalesce(max(worker), -1) "
      "FROM (SELECT pid, CASE WHEN application_name LIKE 'qg-soak-%' "
      "THEN substr(application_name, 9)::int ELSE -1 END AS worker FROM "
      "pg_stat_activity WHERE datname = current_database() AND pid <> "
      "pg_backend_pid() AND backend_type = 'client backend' ORDER BY "
      "random() LIMIT 1) t",
      absl::Seconds(5));
  if (r.ok() && r->Get(0, 0) == "1") {
    ++counters.terminated;
    int64_t worker = -1;
    CHECK(absl::SimpleAtoi(r->Get(0, 1), &worker));
    RecordEvent(db, "terminate", worker, began, absl::Now());
  }
}

// Stops the embedded server at once, and starts it again after 0.2-1 s.
void RestartServer(qg::EmbeddedPostgres& server, const std::string& db,
                   std::mt19937_64& rng, Counters& counters) {
  absl::Time began = absl::Now();
  if (!server.Stop(/*immediate=*/true).ok()) return;
  absl::SleepFor(absl::Milliseconds(200 + rng() % 800));
  CHECK(server.Restart().ok());
  ++counters.restarts;
  RecordEvent(db, "restart", std::nullopt, began, absl::Now());
}

// Until `end`: every 0.5-2 s a kill (half the time), a terminated backend
// (three in ten) or a restart of the embedded server; progress on stderr
// every 10 s.
void RunChaos(Database& database, Workers& workers, std::mt19937_64& rng,
              absl::Time start, absl::Time end, Counters& counters) {
  absl::Time last_report = start;
  while (absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(500 + rng() % 1500));
    int action = static_cast<int>(rng() % 10);
    if (action < 5) {
      workers.Kill(static_cast<int>(rng() % workers.size()));
      ++counters.kills;
    } else if (action < 8) {
      TerminateBackend(database.conninfo, counters);
    } else if (database.server != nullptr) {
      RestartServer(*database.server, database.conninfo, rng, counters);
    }
    if (absl::Now() - last_report >= absl::Seconds(10)) {
      fprintf(stderr,
              "soak: %3.0f s: %lld enqueued, %lld kills, %lld terminated, "
              "%lld restarts\n",
              absl::ToDoubleSeconds(absl::Now() - start),
              static_cast<long long>(counters.enqueued.load()),
              static_cast<long long>(counters.kills.load()),
              static_cast<long long>(counters.terminated.load()),
              static_cast<long long>(counters.restarts.load()));
      last_report = absl::Now();
    }
  }
}

// Waits up to two minutes for the workers to run every soak job.
void Drain(const std::string& db) {
  absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (absl::Now() < deadline &&
         Number(db, "SELECT count(*) FROM que_jobs WHERE job_class = 'Soak'") >
             0) {
    absl::SleepFor(absl::Milliseconds(100));
  }
}

// What the run's tables say at the end.
struct Outcome {
  int64_t enqueued = 0;
  int64_t lost = 0;  // enqueued, no effect
  int64_t completed = 0;
  int64_t duplicates = 0;         // runs after a job's first
  int64_t unexplained = 0;        // of those, runs no chaos event explains
  std::string unexplained_pairs;  // "job@first worker>next worker,..."
  int64_t stuck = 0;              // soak jobs left in the queue
  int64_t locks = 0;              // advisory locks held

  bool Passed() const {
    return lost == 0 && stuck == 0 && locks == 0 && unexplained == 0 &&
           enqueued > 0;
  }
};

Outcome ReadOutcome(const std::string& db) {
  Outcome o;
  o.enqueued = Number(db, "SELECT count(*) FROM qg_soak_enqueued");
  o.lost = Number(db,
                  "SELECT count(*) FROM qg_soak_enqueued e WHERE NOT "
                  "EXISTS (SELECT 1 FROM qg_soak_effects f WHERE "
                  "f.job_id = e.job_id)");
  o.completed =
      Number(db, "SELECT count(DISTINCT job_id) FROM qg_soak_effects");
  o.duplicates = Number(db,
                        "SELECT count(*) - count(DISTINCT job_id) FROM "
                        "qg_soak_effects");
  auto unexplained =
      ExecRetrying(db, kUnexplainedDuplicates, absl::Seconds(30));
  CHECK(unexplained.ok()) << unexplained.status();
  CHECK(absl::SimpleAtoi(unexplained->Get(0, 0), &o.unexplained));
  o.unexplained_pairs = std::string(unexplained->Get(0, 1));
  o.stuck =
      Number(db, "SELECT count(*) FROM que_jobs WHERE job_class = 'Soak'");
  o.locks = Number(db,
                   "SELECT count(*) FROM pg_locks WHERE locktype = "
                   "'advisory' AND database = (SELECT oid FROM "
                   "pg_database WHERE datname = current_database())");
  return o;
}

// For whoever reads a failure: the runs of the first few jobs that ran
// twice unexplained, and the chaos events around them.
void PrintUnexplained(const std::string& db, const std::string& pairs_text) {
  std::vector<std::string> pairs =
      absl::StrSplit(pairs_text, ',', absl::SkipEmpty());
  if (pairs.size() > 3) pairs.resize(3);
  for (const std::string& pair : pairs) {
    std::string id = pair.substr(0, pair.find('@'));
    auto runs = ExecRetrying(
        db,
        absl::StrCat("SELECT string_agg(format('worker %s %s..%s', worker, "
                     "started_at, coalesce(done_at::text, '-')), '; ' ORDER "
                     "BY started_at) FROM qg_soak_effects WHERE job_id = ",
                     id),
        absl::Seconds(10));
    auto events = ExecRetrying(
        db,
        absl::StrCat(
            "SELECT string_agg(format('%s %s %s..%s', kind, "
            "coalesce(worker::text, 'all'), began, ended), '; ' ORDER BY "
            "began) FROM qg_soak_events WHERE ended >= (SELECT min("
            "started_at) - interval '2 s' FROM qg_soak_effects WHERE "
            "job_id = ",
            id,
            ") AND began <= (SELECT max(started_at) + interval '1 s' FROM "
            "qg_soak_effects WHERE job_id = ",
            id, ")"),
        absl::Seconds(10));
    printf("    job %s runs: %s\n      events: %s\n", id.c_str(),
           runs.ok() ? std::string(runs->Get(0, 0)).c_str() : "?",
           events.ok() ? std::string(events->Get(0, 0)).c_str() : "?");
  }
}

// The figures on stdout (soak_test reads the "lost", "unexplained
// duplicates" and PASS/FAIL lines).
void PrintFigures(const std::string& db, const std::string& mode, uint64_t seed,
                  absl::Duration chaos, absl::Duration total,
                  const Counters& counters, const Outcome& o) {
  printf("soak figures (%s, seed %llu)\n", mode.c_str(),
         static_cast<unsigned long long>(seed));
  printf("  chaos time            %.1f s (drained after %.1f s)\n",
         absl::ToDoubleSeconds(chaos), absl::ToDoubleSeconds(total));
  printf("  jobs enqueued         %lld (%lld enqueue transactions refused)\n",
         static_cast<long long>(o.enqueued),
         static_cast<long long>(counters.enqueue_errors.load()));
  printf("  jobs completed        %lld\n", static_cast<long long>(o.completed));
  printf("  jobs/s held           %.0f\n",
         o.completed / absl::ToDoubleSeconds(total));
  printf("  worker kills          %lld\n",
         static_cast<long long>(counters.kills.load()));
  printf("  backends terminated   %lld\n",
         static_cast<long long>(counters.terminated.load()));
  printf("  postgres restarts     %lld\n",
         static_cast<long long>(counters.restarts.load()));
  printf(
      "  duplicates            %lld (in flight at a kill, termination "
      "or restart)\n",
      static_cast<long long>(o.duplicates - o.unexplained));
  printf("  unexplained duplicates %lld%s%s\n",
         static_cast<long long>(o.unexplained),
         o.unexplained > 0 ? ": job@first worker>next worker " : "",
         o.unexplained > 0 ? o.unexplained_pairs.c_str() : "");
  if (o.unexplained > 0) PrintUnexplained(db, o.unexplained_pairs);
  printf("  lost                  %lld\n", static_cast<long long>(o.lost));
  printf("  stuck (left in queue) %lld\n", static_cast<long long>(o.stuck));
  printf("  advisory locks held   %lld\n", static_cast<long long>(o.locks));
  printf("soak: %s\n", o.Passed() ? "PASS" : "FAIL");
}

int RunOrchestrator() {
  uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  std::mt19937_64 rng(seed);
  absl::StatusOr<Database> database = OpenDatabase();
  if (!database.ok()) {
    fprintf(stderr, "soak: %s\n", database.status().ToString().c_str());
    return 1;
  }
  const std::string db = database->conninfo;
  PrepareTables(db);
  int duration = absl::GetFlag(FLAGS_duration);
  std::string mode = absl::GetFlag(FLAGS_mode);
  fprintf(stderr,
          "soak: %d s, %d worker processes x %d threads (%s, %d lane(s) per "
          "fast pool), %d enqueuers, seed %llu\n",
          duration, absl::GetFlag(FLAGS_processes),
          absl::GetFlag(FLAGS_threads), mode.c_str(),
          absl::GetFlag(FLAGS_sessions), absl::GetFlag(FLAGS_enqueuers),
          static_cast<unsigned long long>(seed));
  Workers workers(db, mode);

  Counters counters;
  std::atomic<bool> stop_enqueue{false};
  std::vector<std::thread> enqueuers;
  for (int e = 0; e < absl::GetFlag(FLAGS_enqueuers); ++e) {
    enqueuers.emplace_back(
        [&, e] { RunEnqueuer(db, e, stop_enqueue, counters); });
  }
  absl::Time start = absl::Now();
  RunChaos(*database, workers, rng, start, start + absl::Seconds(duration),
           counters);
  stop_enqueue = true;
  for (auto& t : enqueuers) t.join();
  absl::Duration chaos = absl::Now() - start;

  // Let the workers drain the queue, then stop them gracefully.
  Drain(db);
  absl::Duration total = absl::Now() - start;
  workers.Stop();

  Outcome outcome = ReadOutcome(db);
  PrintFigures(db, mode, seed, chaos, total, counters, outcome);
  return outcome.Passed() ? 0 : 1;
}

// ---------------------------------------------------------------------------
// failover runs

// The enqueuer role (failover runs): transactions of ten jobs, each job's
// args a token of its own ("e<enqueuer>-<n>"). A committed transaction's
// tokens are appended as "A <token> <ack us>" lines; those of a transaction
// whose outcome is unknown (the server went away before the commit was
// answered) as "D <token>": in doubt, they may run or not.
int RunEnqueuerProcess() {
  std::string db = absl::GetFlag(FLAGS_db);
  int e = absl::GetFlag(FLAGS_enqueuer);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  int fd = open(absl::GetFlag(FLAGS_record).c_str(),
                O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return 1;
  std::unique_ptr<qg::Client> client;
  int64_t n = 0;
  while (!g_stop) {
    if (client == nullptr) {
      auto c = qg::Client::Create({.conninfo = db,
                                   .max_conns = 1,
                                   .acquire_timeout = absl::Seconds(5)});
      if (!c.ok()) {
        absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
      client = std::move(*c);
    }
    std::vector<qg::NewJob> jobs;
    std::vector<std::string> tokens;
    for (int i = 0; i < 10; ++i) {
      tokens.push_back(absl::StrCat("e", e, "-", n++));
      jobs.push_back(
          {.type = "Soak", .args = absl::StrCat("[\"", tokens.back(), "\"]")});
    }
    absl::StatusOr<std::vector<int64_t>> ids = client->EnqueueMany(jobs);
    std::string lines;
    int64_t now = absl::ToUnixMicros(absl::Now());
    for (const std::string& t : tokens) {
      absl::StrAppend(&lines, ids.ok() ? "A " : "D ", t, " ", now, "\n");
    }
    if (write(fd, lines.data(), lines.size()) !=
        static_cast<ssize_t>(lines.size())) {
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(ids.ok() ? 5 : 50));
  }
  return 0;
}

pid_t SpawnRole(const std::vector<std::string>& args) {
  std::string self = SelfPath();
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<std::string> copy = args;
    std::vector<char*> argv = {const_cast<char*>("soak-child")};
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// One failover: when the primary stopped, when the standby took writes,
// and when the old primary was a standby again.
struct Failover {
  int64_t killed_us = 0, promoted_us = 0, rebuilt_us = 0;
};

// A token's runs: [start, end] in us.
struct Run {
  int64_t start = 0, end = 0;
};

// Reads the run and enqueue records of `dir`.
void ReadRecords(const std::string& dir, int enqueuers, int workers,
                 std::map<std::string, int64_t>& acked,
                 std::set<std::string>& in_doubt,
                 std::map<std::string, std::vector<Run>>& runs) {
  for (int e = 0; e < enqueuers; ++e) {
    FILE* f = fopen(absl::StrCat(dir, "/enqueuer-", e).c_str(), "r");
    if (f == nullptr) continue;
    char kind[4], token[64];
    long long at;
    while (fscanf(f, "%3s %63s %lld", kind, token, &at) == 3) {
      if (kind[0] == 'A') {
        acked[token] = at;
      } else {
        in_doubt.insert(token);
      }
    }
    fclose(f);
  }
  for (int w = 0; w < workers; ++w) {
    FILE* f = fopen(absl::StrCat(dir, "/worker-", w).c_str(), "r");
    if (f == nullptr) continue;
    char args[80];
    long long pid, start, end;
    while (fscanf(f, " R %79s %lld %lld %lld", args, &pid, &start, &end) == 4) {
      std::string token(args);
      // ["e0-12"] -> e0-12
      if (token.size() > 4) token = token.substr(2, token.size() - 4);
      runs[token].push_back({start, end});
    }
    fclose(f);
  }
  for (auto& [token, list] : runs) {
    std::sort(list.begin(), list.end(),
              [](const Run& a, const Run& b) { return a.start < b.start; });
  }
}

// How far a completion may trail its handler's end and still be undone by a
// failover: the fast path's batched completion, and with asynchronous
// replication the standby's lag.
constexpr int64_t kCompletionWindowUs = 2'000'000;

// A failover in a run's flight: the failover (from the primary's stop to
// the standby's promotion) began before the run's completion (its end plus
// kCompletionWindowUs) was safe, and ended after the run started (a run
// that starts while the primary is going down is in flight too).
bool InFlight(const Run& run, const std::vector<Failover>& failovers) {
  for (const Failover& f : failovers) {
    if (run.start <= f.promoted_us &&
        run.end + kCompletionWindowUs >= f.killed_us) {
      return true;
    }
  }
  return false;
}

// RunFailoverSoak()
//
// --failover=sync|async: 2 enqueuer processes (--enqueuers) and 3 worker
// processes (--processes, --mode) work a primary with a hot standby through
// both hosts, while the primary is failed over every --failover_every
// seconds for --duration seconds. Then the workers drain the queue, and the
// records are compared:
//   lost: acknowledged jobs that never ran. With synchronous replication
//     every one is a failure. With asynchronous replication an
//     acknowledged commit the standby had not received when the primary
//     stopped is gone (PostgreSQL's promise): such jobs, acknowledged
//     within kCompletionWindowUs before a failover, are counted per
//     failover; any other is a failure.
//   duplicates: runs after a token's first; explained when a failover hit
//     the earlier run in flight (InFlight()); any other is a failure.
int RunFailoverSoak() {
  const bool sync = absl::GetFlag(FLAGS_failover) == "sync";
  if (!sync && absl::GetFlag(FLAGS_failover) != "async") {
    fprintf(stderr, "soak: --failover must be sync or async\n");
    return 2;
  }
  qg::EmbeddedPostgresOptions options;
  if (sync) options.settings = {{"synchronous_standby_names", "*"}};
  auto a = qg::EmbeddedPostgres::Start(options);
  if (!a.ok()) {
    fprintf(stderr, "soak: %s\n", a.status().ToString().c_str());
    return 1;
  }
  auto b = qg::EmbeddedPostgres::StartStandby(**a, options);
  if (!b.ok()) {
    fprintf(stderr, "soak: %s\n", b.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<qg::EmbeddedPostgres> primary = std::move(*a),
                                        standby = std::move(*b);
  const std::string db = qg::EmbeddedPostgres::FailoverConninfo(
      {primary.get(), standby.get()}, "qg");
  char dir_template[] = "/tmp/qg-failover-soak-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return 1;
  const std::string dir = dir_template;
  const int workers = absl::GetFlag(FLAGS_processes);
  const int enqueuers = absl::GetFlag(FLAGS_enqueuers);
  const int duration = absl::GetFlag(FLAGS_duration);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  fprintf(stderr,
          "soak: failover (%s replication) every %d s for %d s: %d enqueuer "
          "processes, %d worker processes x %d threads (%s); records in %s\n",
          sync ? "synchronous" : "asynchronous",
          absl::GetFlag(FLAGS_failover_every), duration, enqueuers, workers,
          absl::GetFlag(FLAGS_threads), mode.c_str(), dir.c_str());
  std::vector<pid_t> worker_pids, enqueuer_pids;
  for (int w = 0; w < workers; ++w) {
    std::string m =
        mode == "mixed" ? (w % 2 == 0 ? "fast" : "qg-compat") : mode;
    worker_pids.push_back(SpawnRole(
        {"--role=worker", "--db=" + db,
         absl::StrCat("--threads=", absl::GetFlag(FLAGS_threads)),
         "--mode=" + m,
         absl::StrCat("--handler_ms=", absl::GetFlag(FLAGS_handler_ms)),
         absl::StrCat("--sessions=", absl::GetFlag(FLAGS_sessions)),
         absl::StrCat("--record=", dir, "/worker-", w)}));
  }
  for (int e = 0; e < enqueuers; ++e) {
    enqueuer_pids.push_back(SpawnRole(
        {"--role=enqueuer", "--db=" + db, absl::StrCat("--enqueuer=", e),
         absl::StrCat("--record=", dir, "/enqueuer-", e)}));
  }
  std::vector<Failover> failovers;
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(duration);
  absl::Time next = start + absl::Seconds(absl::GetFlag(FLAGS_failover_every));
  while (absl::Now() < end) {
    absl::SleepFor(std::min(next, end) - absl::Now());
    if (absl::Now() < next) break;
    Failover f;
    f.killed_us = absl::ToUnixMicros(absl::Now());
    CHECK(primary->Stop(/*immediate=*/true).ok());
    absl::Status promoted = standby->Promote();
    CHECK(promoted.ok()) << promoted;
    f.promoted_us = absl::ToUnixMicros(absl::Now());
    std::swap(primary, standby);
    absl::Status rebuilt = standby->RebuildAsStandbyOf(*primary);
    CHECK(rebuilt.ok()) << rebuilt;
    f.rebuilt_us = absl::ToUnixMicros(absl::Now());
    failovers.push_back(f);
    fprintf(stderr,
            "soak: %3.0f s: failover %zu: promoted in %.2f s, old primary a "
            "standby again after %.2f s\n",
            absl::ToDoubleSeconds(absl::Now() - start), failovers.size(),
            (f.promoted_us - f.killed_us) / 1e6,
            (f.rebuilt_us - f.killed_us) / 1e6);
    next += absl::Seconds(absl::GetFlag(FLAGS_failover_every));
  }
  for (pid_t pid : enqueuer_pids) kill(pid, SIGTERM);
  for (pid_t pid : enqueuer_pids) waitpid(pid, nullptr, 0);
  const absl::Duration chaos = absl::Now() - start;
  Drain(db);
  const absl::Duration total = absl::Now() - start;
  const int64_t stuck =
      Number(db, "SELECT count(*) FROM que_jobs WHERE job_class = 'Soak'");
  for (pid_t pid : worker_pids) kill(pid, SIGTERM);
  for (pid_t pid : worker_pids) waitpid(pid, nullptr, 0);
  const int64_t locks = Number(db,
                               "SELECT count(*) FROM pg_locks WHERE locktype = "
                               "'advisory'");

  {
    FILE* f = fopen((dir + "/failovers").c_str(), "w");
    for (const Failover& fo : failovers) {
      if (f != nullptr) {
        fprintf(f, "F %lld %lld %lld\n", static_cast<long long>(fo.killed_us),
                static_cast<long long>(fo.promoted_us),
                static_cast<long long>(fo.rebuilt_us));
      }
    }
    if (f != nullptr) fclose(f);
  }
  std::map<std::string, int64_t> acked;
  std::set<std::string> in_doubt;
  std::map<std::string, std::vector<Run>> runs;
  ReadRecords(dir, enqueuers, workers, acked, in_doubt, runs);
  int64_t lost = 0, lost_to_replication = 0, duplicates = 0, unexplained = 0,
          in_doubt_ran = 0, completed = 0;
  std::string unexplained_text, lost_text;
  for (const auto& [token, at] : acked) {
    if (runs.count(token) != 0) continue;
    bool before_failover = false;
    for (const Failover& f : failovers) {
      // Acknowledged before the promotion (an old primary acknowledges
      // commits until it is gone) and shortly before the stop.
      before_failover |=
          at <= f.promoted_us && at + kCompletionWindowUs >= f.killed_us;
    }
    if (!sync && before_failover) {
      ++lost_to_replication;
    } else {
      ++lost;
      if (lost <= 5) absl::StrAppend(&lost_text, " ", token);
    }
  }
  for (const auto& [token, list] : runs) {
    ++completed;
    in_doubt_ran += in_doubt.count(token);
    for (size_t i = 1; i < list.size(); ++i) {
      ++duplicates;
      if (!InFlight(list[i - 1], failovers)) {
        ++unexplained;
        if (unexplained <= 5) absl::StrAppend(&unexplained_text, " ", token);
      }
    }
  }
  const bool passed = lost == 0 && unexplained == 0 && stuck == 0 &&
                      locks == 0 && !acked.empty() && !failovers.empty();
  printf("failover soak figures (%s replication, %s workers)\n",
         sync ? "synchronous" : "asynchronous", mode.c_str());
  printf("  failover time         %.1f s (drained after %.1f s)\n",
         absl::ToDoubleSeconds(chaos), absl::ToDoubleSeconds(total));
  printf("  failovers             %zu\n", failovers.size());
  double promote = 0, rebuild = 0;
  for (const Failover& f : failovers) {
    promote += (f.promoted_us - f.killed_us) / 1e6;
    rebuild += (f.rebuilt_us - f.killed_us) / 1e6;
  }
  if (!failovers.empty()) {
    printf("  promotion, mean       %.2f s (standby back after %.2f s)\n",
           promote / failovers.size(), rebuild / failovers.size());
  }
  printf(
      "  jobs acknowledged     %zu (%zu more in doubt: the commit's answer "
      "was lost; %lld of them ran)\n",
      acked.size(), in_doubt.size(), static_cast<long long>(in_doubt_ran));
  printf("  jobs completed        %lld\n", static_cast<long long>(completed));
  printf("  jobs/s held           %.0f\n",
         completed / absl::ToDoubleSeconds(total));
  printf("  duplicates            %lld (in flight at a failover)\n",
         static_cast<long long>(duplicates - unexplained));
  printf("  unexplained duplicates %lld%s\n",
         static_cast<long long>(unexplained), unexplained_text.c_str());
  if (!sync) {
    printf(
        "  lost to replication   %lld (acknowledged within %.0f s before "
        "a failover; %.2f per failover)\n",
        static_cast<long long>(lost_to_replication), kCompletionWindowUs / 1e6,
        failovers.empty()
            ? 0.0
            : static_cast<double>(lost_to_replication) / failovers.size());
  }
  printf("  lost                  %lld%s\n", static_cast<long long>(lost),
         lost_text.c_str());
  printf("  stuck (left in queue) %lld\n", static_cast<long long>(stuck));
  printf("  advisory locks held   %lld\n", static_cast<long long>(locks));
  printf("soak: %s\n", passed ? "PASS" : "FAIL");
  return passed ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 2;  // errors only: the chaos makes plenty of noise
  if (absl::GetFlag(FLAGS_role) == "worker") return RunWorker();
  if (absl::GetFlag(FLAGS_role) == "enqueuer") return RunEnqueuerProcess();
  if (!absl::GetFlag(FLAGS_failover).empty()) return RunFailoverSoak();
  return RunOrchestrator();
}
