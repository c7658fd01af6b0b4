// bench: qg-cpp's throughput and latency, side by side with plain-SQL floors
// and with the qg-compatible worker path, in one run.
//
//   bazel run -c opt //tools:bench -- [--scenario s1,...|core|scale|all]
//       [--c 1,8,32]
//       [--reps N] [--cap SECONDS] [--mode fast|qg-compat|both]
//
// Against the embedded throwaway PostgreSQL with PostgreSQL's durable
// defaults (fsync and synchronous_commit on, data on a real disk), or
// $DATABASE_URL when set. Each run starts from an empty table and a
// CHECKPOINT; medians over the repetitions are reported.
//
//   s1 bulk enqueue: 20,000 jobs in calls of 1,000 (COPY stream)   jobs/s
//      floor: COPY of the same rows through libpq
//   s2 single enqueue: 3,000 sequential one-job calls       jobs/s, p50/p99
//      floor: single-row INSERT per transaction
//   s3 drain: 20,000 ready no-op jobs, --c workers                  jobs/s
//      floor: DELETE ... IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 50)
//   s4 pickup: an idle pool; a separate process enqueues 200 jobs 10 ms
//      apart carrying a CLOCK_MONOTONIC stamp              p50/p99 ms
//   s5 a million: 1,000,000 jobs bulk-enqueued (EnqueueStream, in a
//      process of its own: rate and peak RSS), then drained by a pool of 8
//      and of 32 workers in a process of its own: rate overall and per
//      100k slice, peak RSS
//   s6 beside a backlog: a drain of 100,000 jobs at 8 workers while
//      1,000,000 future jobs sit in the same queue, and while 1,000,000
//      ready jobs sit in another queue, and the same drain without them for
//      the ratio; each backlog is vacuumed and analyzed first, as one that
//      has sat in a queue has been (otherwise autovacuum's first pass over
//      the fresh million lands inside the drain, or does not)
//   s7 blocked vacuum: --churn_seconds of enqueueing at half the measured
//      drain capacity while a REPEATABLE READ transaction stays open from
//      10% to 70% of the time: per window pickup p50/p99, lock round trip
//      p50/p99, rate, table and index size; then the same with the
//      recommended autovacuum settings on que_jobs (--trace_ms: each slow
//      lock round trip and sweep, timed, on stderr; also in s8)
//   s8 scale-out: 200,000 jobs drained by P processes of W workers (1x8,
//      2x8, 4x8, 2x4): total rate, connections per process, jobs run twice
//   s9 scraped: the s3 drain (of --s9_jobs, 200,000) at each --c, once
//      plain and once while /metrics is scraped 10 times a second both from a
//      web console on the database (qg::Console, default 5 s snapshot) and from
//      the pool's own qg::WorkerMetrics (observer + MetricsServer); the order
//      alternates per repetition; rates and scraped/plain
//   s10 flow control (not in core/scale/all): 8-worker drains, each beside
//      an unlimited one in the same repetition: 20 limits on other queues;
//      a global limit of 8 drained by 2 pools of 8 (own clients) (these
//      three drains: --s10_jobs jobs, the s3 drain's 20,000 by default; a
//      20,000-job drain lasts about half a second, so its start and end
//      weigh: more measures the steady state); 100,000 jobs over 1,000 keys
//      limited to 1 each
//   s11 flow control over time (not in core/scale/all): a rate limit of
//      100/s on a deep queue for --s11_seconds (2 pools of 8): average
//      starts/s over the rule, the most starts in any 1 s window, the fewest
//      in a second; pickup p50/p99 of 10 keys' jobs (100/s, limit 1 per
//      key) alone and beside a key with 100,000 waiting jobs
//   s12 job history (not in core/scale/all): the s3 drain at each --c with
//      history off and on for the queue, in the same repetition (the order
//      alternating): rates and on/off
//   s13 workflows and batches (not in core/scale/all): the s3 drain at each
//      --c with the settling triggers disabled, as they are, and with every
//      job in one open batch, in the same repetition (the order rotating):
//      rates, as_is/disabled (what queues without workflows or batches pay)
//      and batch/as_is (what counting a batch costs)
//   s14 busy backends (not in core/scale/all): the s3 drain (--s14_jobs
//      jobs, 20,000 by default) at each --c (fast path, one pool) beside
//      how many of the database's backends were busy meanwhile
//      (pg_stat_activity sampled every 10 ms on a connection of its own,
//      itself not counted): mean and most, with jobs/s; and
//      what each job cost: round trips per 1,000 jobs, jobs per lock
//      batch, CPU microseconds per job of this process and of the server's
//      processes (the sampler's queries included: a few us per job), and
//      this process's context switches per job (issue 22: where the time
//      goes, not only how much work got done)
//
// stdout: one JSON object per line; stderr: progress and the final table.
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "httplib.h"
#include "qg/client.h"
#include "qg/conninfo.h"
#include "qg/console/console.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/internal/sync.h"
#include "qg/metrics/metrics_server.h"
#include "qg/metrics/worker_metrics.h"
#include "qg/pg.h"
#include "qg/worker/worker.h"

ABSL_FLAG(std::string, scenario, "core",
          "s1 .. s9, a comma-separated list, core (s1-s4, the default), "
          "scale (s5-s8) or all (s1-s9)");
ABSL_FLAG(int, churn_seconds, 120, "s7: seconds of churn per pass");
ABSL_FLAG(double, trace_ms, 0,
          "s7, s8: print each lock round trip, sweep and (s8) emptiness "
          "check slower than this (ms), with the time, on stderr (0: none)");
ABSL_FLAG(std::string, worker_role, "",
          "internal: run as a worker process against this conninfo");
ABSL_FLAG(int, workers, 8, "internal: the worker process's pool size");
ABSL_FLAG(std::string, ids_file, "",
          "internal: where the worker process writes the ids it ran");
ABSL_FLAG(std::string, stream_role, "",
          "internal: bulk-enqueue --stream_jobs jobs against this conninfo");
ABSL_FLAG(int, stream_jobs, 1000000, "internal: jobs the stream role enqueues");
ABSL_FLAG(std::string, c, "8",
          "s3 worker counts, comma-separated (e.g. 1,8,32)");
ABSL_FLAG(double, s11_warmup_s, 0.3,
          "s11: seconds between the fairness pool's start and the first job");
ABSL_FLAG(int, s11_seconds, 60,
          "s11: how long the rate-limited run lasts, in seconds");
ABSL_FLAG(int, s9_jobs, 200000,
          "s9: ready jobs per drain (the s3 drain, longer, so that it spans "
          "many scrapes and console snapshots)");
ABSL_FLAG(int, s14_jobs, 20000,
          "s14: ready jobs per drain (20,000 as in s3; more for a steady "
          "state to profile)");
ABSL_FLAG(int, s10_jobs, 20000,
          "s10: ready jobs per drain of the other_queues and global8 figures "
          "and their unlimited drain");
ABSL_FLAG(int, reps, 3, "repetitions per scenario; medians are reported");
ABSL_FLAG(int, sessions, 1,
          "fast path: WorkerOptions::sessions (lanes; 0: automatic; 1, the "
          "library's default)");
ABSL_FLAG(double, cap, 30, "longest a single drain or pickup run may take (s)");
ABSL_FLAG(std::string, mode, "both", "worker path: fast, qg-compat or both");
ABSL_FLAG(int, buffer, -1,
          "fast path: jobs locked ahead (-1: adaptive, the default)");
ABSL_FLAG(double, recheck_ms, 25,
          "fast path: WorkerOptions::recheck_after in milliseconds");
ABSL_FLAG(std::string, enqueuer, "",
          "internal: run as the s4 enqueuer process against this conninfo");
ABSL_FLAG(std::string, enqueuer_log, "",
          "internal: where the s4 enqueuer writes \"stamp returned\" lines");
ABSL_FLAG(std::string, enqueuer_tag, "",
          "internal: the s4 enqueuer's JSON prefix (config, peer, rep)");

namespace {

using ConnPtr = qg::PgConnPtr;
using qg::internal::Mutex;
using qg::internal::MutexLock;

constexpr int kS1Jobs = 20000, kS1Call = 1000;
constexpr int kS2Jobs = 3000;
constexpr int kS3Jobs = 20000;
constexpr int kS4Jobs = 200;
constexpr int kS5Jobs = 1000000;
constexpr int kS6Jobs = 100000;
constexpr int kS8Jobs = 200000;

int64_t MonotonicNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

// `text` as a number; 0 when it is none (NULL, empty).
double NumberOr0(absl::string_view text) {
  double v = 0;
  return absl::SimpleAtod(text, &v) ? v : 0;
}

// The CLOCK_MONOTONIC stamp a bench job carries as its args ("[stamp]").
std::optional<int64_t> ArgsStamp(const qg::Job& job) {
  int64_t stamp = 0;
  std::string args(absl::StripPrefix(absl::StripSuffix(job.args(), "]"), "["));
  if (!absl::SimpleAtoi(args, &stamp)) return std::nullopt;
  return stamp;
}

ConnPtr MustConnect(const std::string& conninfo) {
  auto conn = qg::Connect(conninfo);
  CHECK(conn.ok()) << conn.status();
  return std::move(*conn);
}

void MustExec(PGconn* conn, const std::string& sql,
              const qg::SqlParams& params = {}) {
  auto r =
      params.empty() ? qg::ExecSimple(conn, sql) : qg::Exec(conn, sql, params);
  CHECK(r.ok()) << sql << ": " << r.status();
}

// The peak resident set of the calling process, in MB (VmHWM).
double PeakRssMb() {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  double kb = 0;
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
  }
  fclose(f);
  return kb / 1024;
}

// Runs this binary with `args` and returns its stdout; CHECK-fails if it
// does not exit 0.
std::string RunSelf(const std::vector<std::string>& args) {
  // The command line is built before fork(): the child of a threaded
  // process (s8 starts its processes from threads) must not allocate. The
  // pool's options go first, so that `args` overrides them (the last
  // occurrence of a flag wins): the worker processes get --sessions,
  // --buffer and --recheck_ms (s8 ran one lane per process whatever
  // --sessions said).
  std::vector<std::string> all = {
      absl::StrCat("--sessions=", absl::GetFlag(FLAGS_sessions)),
      absl::StrCat("--buffer=", absl::GetFlag(FLAGS_buffer)),
      absl::StrCat("--recheck_ms=", absl::GetFlag(FLAGS_recheck_ms))};
  if (absl::GetFlag(FLAGS_trace_ms) > 0) {
    all.push_back(absl::StrCat("--trace_ms=", absl::GetFlag(FLAGS_trace_ms)));
  }
  all.insert(all.end(), args.begin(), args.end());
  const std::string self = "/proc/self/exe";
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>("bench"));
  for (const std::string& a : all) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int out[2];
  CHECK_EQ(pipe(out), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) text.append(buf, n);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "bench child " << absl::StrJoin(args, " ") << " failed";
  return text;
}

// "key value" lines of a child's stdout.
std::map<std::string, double> ParseReport(const std::string& text) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    double v = 0;
    if (parts.size() == 2 && absl::SimpleAtod(parts[1], &v)) {
      out[std::string(parts[0])] = v;
    }
  }
  return out;
}

// Round trips a fast pool reports, for s7: all of them, and apart those
// that walked the queue from its head; and its sweeps (which walk the
// index entries of dead rows vacuum may not have removed, beside the
// locker).
class RoundTripLog : public qg::PoolObserver {
 public:
  struct Times {
    std::vector<double> all, from_head, sweeps;
  };
  void OnRoundTrip(const RoundTrip& r) override ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    double ms = absl::ToDoubleMilliseconds(r.took);
    if (trace_ms_ > 0 && ms > trace_ms_) {
      fprintf(stderr,
              "bench: %s [%d] round trip %.1f ms: locked %d, written %d, "
              "unlocked %d, re-checked %d, scanned %d%s%s, %d buffered\n",
              Stamp().c_str(), static_cast<int>(getpid()), ms, r.locked,
              r.written, r.released, r.rechecked, r.scanned,
              r.rewound ? ", rewound" : "",
              r.from_head ? ", from the head" : "", r.buffered);
    }
    times_.all.push_back(ms);
    if (r.from_head) times_.from_head.push_back(ms);
  }
  void OnSweep(const Sweep& s) override ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    if (trace_ms_ > 0 &&
        (absl::ToDoubleMilliseconds(s.took) > trace_ms_ || !s.ok)) {
      fprintf(stderr, "bench: %s [%d] sweep %.1f ms: %d free%s\n",
              Stamp().c_str(), static_cast<int>(getpid()),
              absl::ToDoubleMilliseconds(s.took), s.found,
              s.ok ? "" : ", failed");
    }
    times_.sweeps.push_back(absl::ToDoubleMilliseconds(s.took));
  }
  static std::string Stamp() {
    return absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::UTCTimeZone());
  }
  Times Take() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    Times out;
    std::swap(out, times_);
    return out;
  }

 private:
  const double trace_ms_ = absl::GetFlag(FLAGS_trace_ms);
  Mutex mu_;
  Times times_ ABSL_GUARDED_BY(mu_);
};

// Pickup times handlers observed (s4, s7): from the stamp a job carries to
// its handler's start. Thread-safe: handlers add from the pool's threads.
class Pickups {
 public:
  // With `keep_starts`, also each job's start by its stamp (s4 matches them
  // to the enqueuer's log; s7's churn would only grow the map).
  explicit Pickups(bool keep_starts) : keep_starts_(keep_starts) {}

  // A handler started at `now` a job stamped `stamp` (both CLOCK_MONOTONIC
  // nanoseconds).
  void Add(int64_t stamp, int64_t now) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    ms_.push_back((now - stamp) / 1e6);
    if (keep_starts_) started_[stamp] = now;
  }
  // How many pickups were added since the last `TakeMs()`.
  size_t size() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    return ms_.size();
  }
  // The pickup times in ms added since the last call.
  std::vector<double> TakeMs() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    std::vector<double> out;
    out.swap(ms_);
    return out;
  }
  // Handler starts by stamp (with `keep_starts`).
  std::map<int64_t, int64_t> started() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    return started_;
  }

 private:
  const bool keep_starts_;
  Mutex mu_;
  std::vector<double> ms_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, int64_t> started_ ABSL_GUARDED_BY(mu_);
};

// What a worker process (s5, s8) ran: every job id, and when each 100,000th
// job finished. Thread-safe.
class RunLog {
 public:
  // The `n`-th job to finish is job `id`.
  void Add(int64_t id, int64_t n) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    ids_.push_back(id);
    if (n % 100000 == 0) slices_.push_back(MonotonicNanos());
  }
  std::vector<int64_t> ids() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    return ids_;
  }
  // CLOCK_MONOTONIC nanoseconds when the k-th 100,000 jobs had finished.
  std::vector<int64_t> slices() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    return slices_;
  }

 private:
  Mutex mu_;
  std::vector<int64_t> ids_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> slices_ ABSL_GUARDED_BY(mu_);
};

// One measured figure.
struct Figure {
  std::string peer, scenario, metric;
  int rep;
  double value;
};

class Bench {
 public:
  explicit Bench(std::string conninfo)
      : conninfo_(std::move(conninfo)), admin_(MustConnect(conninfo_)) {
    MustExec(admin_.get(),
             "CREATE TABLE IF NOT EXISTS qg_bench_floor (LIKE que_jobs "
             "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)");
    auto r = qg::Exec(admin_.get(),
                      "SELECT current_setting('fsync') || '/' || "
                      "current_setting('synchronous_commit')");
    CHECK(r.ok());
    config_ = std::string(r->Get(0, 0)) == "on/on" ? "durable" : "non-durable";
  }

  void Emit(const std::string& peer, const std::string& scenario, int rep,
            const std::string& metric, double value) {
    printf(
        "{\"config\":\"%s\",\"peer\":\"%s\",\"scenario\":\"%s\",\"rep\":%d,"
        "\"metric\":\"%s\",\"value\":%.3f}\n",
        config_.c_str(), peer.c_str(), scenario.c_str(), rep, metric.c_str(),
        value);
    fflush(stdout);
    figures_.push_back({peer, scenario, metric, rep, value});
  }

  // Empties both tables and checkpoints, so every run starts alike.
  void Reset() {
    MustExec(admin_.get(), "TRUNCATE que_jobs, qg_bench_floor");
    MustExec(admin_.get(), "CHECKPOINT");
  }

  // The COPY text of `n` bench rows.
  static std::string CopyRows(int from, int n, const std::string& type) {
    std::string rows;
    for (int i = from; i < from + n; ++i) {
      absl::StrAppend(&rows, "\t100\t2000-01-01 00:00:00+00\t", type, "\t[", i,
                      "]\n");
    }
    return rows;
  }

  // COPY of `rows` into `table` on `conn`, in its own transaction.
  static void Copy(PGconn* conn, const std::string& table,
                   const std::string& rows) {
    qg::PgResult start(PQexec(
        conn, absl::StrCat("COPY ", table,
                           " (queue, priority, run_at, job_class, args) FROM "
                           "STDIN")
                  .c_str()));
    CHECK_EQ(PQresultStatus(start.get()), PGRES_COPY_IN)
        << PQerrorMessage(conn);
    CHECK_EQ(PQputCopyData(conn, rows.data(), rows.size()), 1);
    CHECK_EQ(PQputCopyEnd(conn, nullptr), 1);
    qg::PgResult end(PQgetResult(conn));
    CHECK_EQ(PQresultStatus(end.get()), PGRES_COMMAND_OK)
        << PQerrorMessage(conn);
    while (PGresult* r = PQgetResult(conn)) PQclear(r);
  }

  std::unique_ptr<qg::Client> NewClient(int max_conns) {
    auto c =
        qg::Client::Create({.conninfo = conninfo_, .max_conns = max_conns});
    CHECK(c.ok()) << c.status();
    return std::move(*c);
  }

  void S1(int rep) {
    Reset();
    auto client = NewClient(2);
    absl::Time start = absl::Now();
    for (int call = 0; call < kS1Jobs / kS1Call; ++call) {
      int i = 0;
      auto n = client->EnqueueStream([&](qg::NewJob& job) {
        if (i == kS1Call) return false;
        job.type = "Bench";
        job.args = absl::StrCat("[", call * kS1Call + i, "]");
        job.run_at = absl::FromUnixSeconds(946684800);
        ++i;
        return true;
      });
      CHECK(n.ok()) << n.status();
    }
    Emit("qg", "s1", rep, "jobs_per_s",
         kS1Jobs / absl::ToDoubleSeconds(absl::Now() - start));

    std::vector<std::string> chunks;
    for (int call = 0; call < kS1Jobs / kS1Call; ++call) {
      chunks.push_back(CopyRows(call * kS1Call, kS1Call, "Bench"));
    }
    ConnPtr conn = MustConnect(conninfo_);
    start = absl::Now();
    for (const std::string& rows : chunks)
      Copy(conn.get(), "qg_bench_floor", rows);
    Emit("floor", "s1", rep, "jobs_per_s",
         kS1Jobs / absl::ToDoubleSeconds(absl::Now() - start));
  }

  void S2(int rep) {
    Reset();
    auto client = NewClient(2);
    std::vector<double> lat;
    absl::Time start = absl::Now();
    for (int i = 0; i < kS2Jobs; ++i) {
      absl::Time t = absl::Now();
      auto id =
          client->Enqueue({.type = "Bench", .args = absl::StrCat("[", i, "]")});
      CHECK(id.ok()) << id.status();
      lat.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    }
    double secs = absl::ToDoubleSeconds(absl::Now() - start);
    Emit("qg", "s2", rep, "jobs_per_s", kS2Jobs / secs);
    Emit("qg", "s2", rep, "p50_ms", Percentile(lat, 0.5));
    Emit("qg", "s2", rep, "p99_ms", Percentile(lat, 0.99));

    ConnPtr conn = MustConnect(conninfo_);
    CHECK(qg::Prepare(conn.get(), "floor_insert",
                      "INSERT INTO qg_bench_floor (job_class, args) "
                      "VALUES ($1, $2::json)")
              .ok());
    lat.clear();
    start = absl::Now();
    for (int i = 0; i < kS2Jobs; ++i) {
      absl::Time t = absl::Now();
      auto r = qg::ExecPrepared(conn.get(), "floor_insert",
                                {"Bench", absl::StrCat("[", i, "]")});
      CHECK(r.ok()) << r.status();
      lat.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    }
    secs = absl::ToDoubleSeconds(absl::Now() - start);
    Emit("floor", "s2", rep, "jobs_per_s", kS2Jobs / secs);
    Emit("floor", "s2", rep, "p50_ms", Percentile(lat, 0.5));
    Emit("floor", "s2", rep, "p99_ms", Percentile(lat, 0.99));
  }

  // Loads `n` ready jobs into `table`.
  void LoadReady(const std::string& table, int n = kS3Jobs) {
    ConnPtr conn = MustConnect(conninfo_);
    for (int from = 0; from < n; from += kS3Jobs) {
      Copy(conn.get(), table,
           CopyRows(from, std::min(kS3Jobs, n - from), "Noop"));
    }
    MustExec(admin_.get(), "CHECKPOINT");
  }

  // Waits until `table` is empty or `cap` passes; returns rows left.
  int64_t WaitEmpty(PGconn* conn, const std::string& table,
                    absl::Time deadline) {
    std::string sql = absl::StrCat("SELECT count(*) FROM (SELECT 1 FROM ",
                                   table, " LIMIT 1) t");
    while (true) {
      auto r = qg::Exec(conn, sql);
      CHECK(r.ok()) << r.status();
      if (r->Get(0, 0) == "0") return 0;
      if (absl::Now() > deadline) {
        auto n = qg::Exec(conn, absl::StrCat("SELECT count(*) FROM (SELECT 1 "
                                             "FROM ",
                                             table, ") t"));
        int64_t left = 0;
        CHECK(n.ok() && absl::SimpleAtoi(n->Get(0, 0), &left));
        return left;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  // Drains what is in que_jobs' default queue (`expected` jobs) with one
  // pool of `c` workers in this process (DrainPools()).
  double DrainReady(int c, qg::WorkerMode mode, int64_t expected,
                    qg::PoolObserver* observer = nullptr) {
    return DrainPools(1, c, expected, mode, observer);
  }

  void S3(int rep, int c, qg::WorkerMode mode) {
    Reset();
    LoadReady("que_jobs");
    double rate = DrainReady(c, mode, kS3Jobs);
    Emit(mode == qg::WorkerMode::kFast ? "qg" : "qg-compat", "s3", rep,
         absl::StrCat("drain_c", c, "_jobs_per_s"), rate);
  }

  // Drains `expected` ready Noop jobs of the default queue with `pools`
  // pools of `c` workers, each on a client (and sessions) of its own, as
  // separate processes would be; jobs/s from the first handler start until
  // the queue is empty. The database is asked whether the queue is empty
  // only once the handlers ran `expected` jobs, and along the primary key:
  // a query polled during the drain that scans the table (beside s6's
  // million future jobs, a parallel sequential scan of 60 ms, back to back)
  // takes the cores the drain is measured on.
  double DrainPools(int pools, int c, int64_t expected,
                    qg::WorkerMode mode = qg::WorkerMode::kFast,
                    qg::PoolObserver* observer = nullptr,
                    const std::function<void()>& on_empty = nullptr) {
    std::atomic<int64_t> first{0}, ran{0};
    qg::WorkMap work_map;
    work_map.Register("Noop", [&](qg::Job&) {
      int64_t zero = 0;
      first.compare_exchange_strong(zero, MonotonicNanos());
      ++ran;
      return absl::OkStatus();
    });
    qg::WorkerOptions options;
    options.mode = mode;
    options.interval = absl::Milliseconds(100);
    options.buffer = absl::GetFlag(FLAGS_buffer);
    options.recheck_after = absl::Milliseconds(absl::GetFlag(FLAGS_recheck_ms));
    options.sessions = absl::GetFlag(FLAGS_sessions);
    options.observer = observer;
    std::vector<std::unique_ptr<qg::Client>> clients;
    std::vector<std::unique_ptr<qg::WorkerPool>> running;
    for (int i = 0; i < pools; ++i) {
      clients.push_back(NewClient(c + 2));
      running.push_back(std::make_unique<qg::WorkerPool>(
          clients.back().get(), &work_map, c, options));
    }
    ConnPtr watch = MustConnect(conninfo_);
    absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_cap));
    for (auto& p : running) {
      if (absl::Status s = p->Start(); !s.ok()) LOG(FATAL) << s;
    }
    while (ran.load() < expected && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    int64_t left =
        WaitEmpty(watch.get(),
                  "que_jobs WHERE queue = '' AND run_at <= now() AND "
                  "job_class = 'Noop' ORDER BY queue, priority, run_at, job_id",
                  deadline);
    int64_t end = MonotonicNanos();
    if (on_empty) on_empty();
    for (auto& p : running) p->Shutdown();
    return (expected - left) / ((end - first.load()) / 1e9);
  }

  // `n` ready Noop jobs whose args name one of `keys` tenants, in turn.
  void LoadKeyed(int n, int keys) {
    ConnPtr conn = MustConnect(conninfo_);
    std::string rows;
    for (int i = 0; i < n; ++i) {
      absl::StrAppend(
          &rows, "\t100\t2000-01-01 00:00:00+00\tNoop\t{\"tenant\":", i % keys,
          "}\n");
    }
    Copy(conn.get(), "que_jobs", rows);
    MustExec(admin_.get(), "CHECKPOINT");
  }

  // s10: flow control (issue 19), each figure beside its unlimited drain
  // in the same repetition, 8 workers per pool:
  //   other_queues: the s3 drain with 20 limits set on other queues;
  //   global8: one queue limited to 8 at once, drained by 2 pools of 8
  //     (own clients and sessions: two processes as the database sees them);
  //   keys1000: 100,000 jobs over 1,000 keys limited to 1 each.
  // s12: the s3 drain with job history off and on for the queue (each
  // completed job's record written in its delete statement), in the same
  // repetition, the order alternating per repetition.
  void S12(int rep, int c) {
    auto drain = [&](bool history) {
      Reset();
      MustExec(admin_.get(), "TRUNCATE qg_job_history");
      MustExec(admin_.get(),
               absl::StrCat("INSERT INTO qg_queues (queue, history) VALUES "
                            "('', ",
                            history ? "true" : "false",
                            ") ON CONFLICT (queue) DO UPDATE SET history = "
                            "excluded.history"));
      LoadReady("que_jobs");
      double rate = DrainReady(c, qg::WorkerMode::kFast, kS3Jobs);
      if (history) {
        auto n = qg::Exec(admin_.get(), "SELECT count(*) FROM qg_job_history");
        CHECK(n.ok() && n->Get(0, 0) == absl::StrCat(kS3Jobs))
            << "history kept " << (n.ok() ? n->Get(0, 0) : "?") << " of "
            << kS3Jobs << " records";
      }
      return rate;
    };
    double off = 0, on = 0;
    if (rep % 2 == 0) {
      off = drain(false);
      on = drain(true);
    } else {
      on = drain(true);
      off = drain(false);
    }
    MustExec(admin_.get(), "DELETE FROM qg_queues WHERE queue = ''");
    MustExec(admin_.get(), "TRUNCATE qg_job_history");
    Emit("qg", "s12", rep, absl::StrCat("history_off_c", c, "_jobs_per_s"),
         off);
    Emit("qg", "s12", rep, absl::StrCat("history_on_c", c, "_jobs_per_s"), on);
    Emit("qg", "s12", rep, absl::StrCat("history_on_over_off_c", c), on / off);
  }

  // s13: the s3 drain with the statement triggers that settle workflows
  // and batches disabled, as they are, and with every job in one open
  // batch (counted at each completion statement), in the same repetition.
  void S13(int rep, int c) {
    constexpr const char* kTriggers[] = {"qg_jobs_deleted", "qg_jobs_updated",
                                         "qg_batch_added"};
    auto triggers = [&](bool on) {
      for (const char* t : kTriggers) {
        MustExec(admin_.get(),
                 absl::StrCat("ALTER TABLE que_jobs ",
                              on ? "ENABLE" : "DISABLE", " TRIGGER ", t));
      }
    };
    auto drain = [&](int variant) {  // 0 disabled, 1 as is, 2 batch
      Reset();
      triggers(variant != 0);
      if (variant == 2) {
        MustExec(admin_.get(), "DELETE FROM qg_batches");
        MustExec(admin_.get(), "DELETE FROM qg_batch_adds");
        MustExec(admin_.get(),
                 "INSERT INTO qg_batches (batch_id, description) VALUES "
                 "(1, 'bench')");
        MustExec(admin_.get(),
                 absl::StrCat("INSERT INTO que_jobs (priority, run_at, "
                              "job_class, args, qg_batch_id) SELECT 100, "
                              "'2000-01-01 00:00:00+00', 'Noop', "
                              "json_build_array(g), 1 FROM generate_series(0, ",
                              kS3Jobs - 1, ") g"));
        MustExec(admin_.get(), "CHECKPOINT");
      } else {
        LoadReady("que_jobs");
      }
      double rate = DrainReady(c, qg::WorkerMode::kFast, kS3Jobs);
      if (variant == 2) {
        auto n =
            qg::Exec(admin_.get(),
                     "SELECT completed FROM qg_batches WHERE batch_id = 1");
        CHECK(n.ok() && n->Get(0, 0) == absl::StrCat(kS3Jobs))
            << "the batch counted " << (n.ok() ? n->Get(0, 0) : "?") << " of "
            << kS3Jobs << " completions";
      }
      triggers(true);
      return rate;
    };
    double rates[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
      int variant = (i + rep) % 3;
      rates[variant] = drain(variant);
    }
    MustExec(admin_.get(), "DELETE FROM qg_batches");
    MustExec(admin_.get(), "DELETE FROM qg_batch_adds");
    Emit("qg", "s13", rep, absl::StrCat("disabled_c", c, "_jobs_per_s"),
         rates[0]);
    Emit("qg", "s13", rep, absl::StrCat("as_is_c", c, "_jobs_per_s"), rates[1]);
    Emit("qg", "s13", rep, absl::StrCat("batch_c", c, "_jobs_per_s"), rates[2]);
    Emit("qg", "s13", rep, absl::StrCat("as_is_over_disabled_c", c),
         rates[1] / rates[0]);
    Emit("qg", "s13", rep, absl::StrCat("batch_over_as_is_c", c),
         rates[2] / rates[1]);
  }

  // s14: the s3 drain beside what it cost, so that the cause of a figure
  // is visible and not only the figure: the database backends busy
  // meanwhile (pg_stat_activity sampled every 10 ms), the pool's round trips
  // and jobs per lock, CPU time per job of this process and of the server's
  // processes (from /proc, when the server runs on this machine), and this
  // process's context switches (its threads' sleeps and wake-ups) per job.
  void S14(int rep, int c) {
    Reset();
    const int jobs_n = absl::GetFlag(FLAGS_s14_jobs);
    LoadReady("que_jobs", jobs_n);
    std::atomic<bool> stop{false};
    int64_t samples = 0, busy_sum = 0, busy_most = 0;
    std::thread sampler([&] {
      ConnPtr conn = MustConnect(conninfo_);
      while (!stop.load()) {
        auto r = qg::Exec(conn.get(),
                          "SELECT count(*) FROM pg_stat_activity WHERE datname "
                          "= current_database() AND pid <> pg_backend_pid() "
                          "AND state = 'active'");
        int64_t busy = 0;
        if (r.ok() && absl::SimpleAtoi(r->Get(0, 0), &busy)) {
          ++samples;
          busy_sum += busy;
          busy_most = std::max(busy_most, busy);
        }
        absl::SleepFor(absl::Milliseconds(10));
      }
    });
    RoundTripCounter trips;
    const int postmaster = PostmasterPid();
    // CPU counts from the first job done, as the drain's rate does: what a
    // pool's start costs (its sessions prepare their statements, the
    // server loads its caches) is not the cost per job.
    // Both ends are read while the pool still runs (before its sessions
    // close and their processes go).
    std::map<int, int64_t> server_before, server_after;
    struct rusage before, after;
    std::thread snapper([&] {
      while (trips.jobs_done.load() == 0 && !stop.load()) {
        absl::SleepFor(absl::Microseconds(200));
      }
      getrusage(RUSAGE_SELF, &before);
      server_before = ServerCpu(postmaster);
    });
    double rate = DrainPools(1, c, jobs_n, qg::WorkerMode::kFast, &trips, [&] {
      snapper.join();
      getrusage(RUSAGE_SELF, &after);
      server_after = ServerCpu(postmaster);
    });
    const double server_cpu = ServerCpuSeconds(server_before, server_after);
    stop.store(true);
    sampler.join();
    auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    const double client_cpu =
        seconds(after.ru_utime) + seconds(after.ru_stime) -
        seconds(before.ru_utime) - seconds(before.ru_stime);
    const double switches = (after.ru_nvcsw + after.ru_nivcsw) -
                            (before.ru_nvcsw + before.ru_nivcsw);
    // Per job done since the snapshot (the first is not counted).
    const double jobs = std::max<int64_t>(trips.jobs_done.load() - 1, 1);
    const std::string at = absl::StrCat("_c", c);
    Emit("qg", "s14", rep, absl::StrCat("drain", at, "_jobs_per_s"), rate);
    Emit("qg", "s14", rep, absl::StrCat("busy_backends_mean", at),
         samples > 0 ? static_cast<double>(busy_sum) / samples : 0);
    Emit("qg", "s14", rep, absl::StrCat("busy_backends_most", at),
         static_cast<double>(busy_most));
    Emit("qg", "s14", rep, absl::StrCat("round_trips_per_1k_jobs", at),
         trips.round_trips.load() * 1000.0 / jobs);
    Emit("qg", "s14", rep, absl::StrCat("jobs_per_lock", at),
         trips.locks.load() > 0
             ? static_cast<double>(trips.locked.load()) / trips.locks.load()
             : 0);
    // How much of the drain the locker had a round trip in flight (1: the
    // database always had the pool's next batch to work on), how long one
    // took, and how many jobs waited in the buffer after one.
    const int64_t trips_n = std::max<int64_t>(trips.round_trips.load(), 1);
    Emit("qg", "s14", rep, absl::StrCat("round_trip_ms_mean", at),
         trips.took_us.load() / 1e3 / trips_n);
    Emit("qg", "s14", rep, absl::StrCat("round_trip_in_flight", at),
         trips.took_us.load() / 1e6 / (jobs_n / rate));
    Emit("qg", "s14", rep, absl::StrCat("buffered_after_round_trip_mean", at),
         static_cast<double>(trips.buffered.load()) / trips_n);
    Emit("qg", "s14", rep, absl::StrCat("client_cpu_us_per_job", at),
         client_cpu * 1e6 / jobs);
    if (server_cpu >= 0) {
      Emit("qg", "s14", rep, absl::StrCat("server_cpu_us_per_job", at),
           server_cpu * 1e6 / jobs);
    }
    Emit("qg", "s14", rep, absl::StrCat("client_switches_per_job", at),
         switches / jobs);
  }

  // Counts a pool's round trips and the jobs their lock scans took.
  struct RoundTripCounter : qg::PoolObserver {
    std::atomic<int64_t> round_trips{0}, locks{0}, locked{0}, jobs_done{0};
    std::atomic<int64_t> took_us{0}, buffered{0};
    void OnJobDone(const JobDone&) override { ++jobs_done; }
    void OnRoundTrip(const RoundTrip& rt) override {
      ++round_trips;
      if (rt.locked > 0) ++locks;
      locked += rt.locked;
      took_us += absl::ToInt64Microseconds(rt.took);
      buffered += rt.buffered;
    }
  };

  // The server's postmaster (the parent of a backend), or -1 when the
  // server does not run on this machine (its backend is not in /proc).
  int PostmasterPid() {
    auto r = qg::Exec(admin_.get(), "SELECT pg_backend_pid()");
    int backend = 0;
    if (!r.ok() || !absl::SimpleAtoi(r->Get(0, 0), &backend)) return -1;
    return ParentPid(backend);
  }

  // The parent of process `pid` (from /proc/PID/stat), or -1.
  static int ParentPid(int pid) {
    std::string stat = ReadSmallFile(absl::StrCat("/proc/", pid, "/stat"));
    // pid (comm) state ppid ...: the comm may hold spaces; read after ')'.
    size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 2 > stat.size()) return -1;
    std::vector<std::string> fields =
        absl::StrSplit(stat.substr(close + 2), ' ');
    int parent = -1;
    if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &parent)) return -1;
    return parent;
  }

  // CPU time (ns, from /proc/PID/schedstat) of `postmaster` and each of
  // its children now, by pid; empty when unknown.
  static std::map<int, int64_t> ServerCpu(int postmaster) {
    std::map<int, int64_t> cpu;
    if (postmaster <= 0) return cpu;
    auto on_cpu = [](int pid) -> int64_t {
      std::string stat =
          ReadSmallFile(absl::StrCat("/proc/", pid, "/schedstat"));
      int64_t ns = -1;
      std::vector<std::string> f = absl::StrSplit(stat, ' ');
      if (f.empty() || !absl::SimpleAtoi(f[0], &ns)) return -1;
      return ns;
    };
    DIR* dir = opendir("/proc");
    if (dir == nullptr) return cpu;
    while (dirent* e = readdir(dir)) {
      int pid = 0;
      if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
      if (pid != postmaster && ParentPid(pid) != postmaster) continue;
      if (int64_t ns = on_cpu(pid); ns >= 0) cpu[pid] = ns;
    }
    closedir(dir);
    return cpu;
  }

  // CPU seconds the server's processes used from `before` to `after`
  // (processes started meanwhile from zero; -1 when unknown).
  static double ServerCpuSeconds(const std::map<int, int64_t>& before,
                                 const std::map<int, int64_t>& after) {
    if (before.empty() || after.empty()) return -1;
    int64_t ns = 0;
    for (const auto& [pid, t] : after) {
      auto it = before.find(pid);
      ns += t - (it == before.end() ? 0 : it->second);
    }
    return ns / 1e9;
  }

  static std::string ReadSmallFile(const std::string& path) {
    FILE* f = fopen(path.c_str(), "r");
    if (f == nullptr) return "";
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return std::string(buf, n);
  }

  void S10(int rep) {
    auto limits = [&](const std::string& insert) {
      MustExec(admin_.get(), "DELETE FROM qg_limits");
      if (!insert.empty()) MustExec(admin_.get(), insert);
    };
    const int jobs = absl::GetFlag(FLAGS_s10_jobs);
    limits("");
    Reset();
    LoadReady("que_jobs", jobs);
    const double plain = DrainPools(1, 8, jobs);
    Emit("qg", "s10", rep, "plain_c8_jobs_per_s", plain);
    limits(
        "INSERT INTO qg_limits (name, queue, concurrency) SELECT 'other-' || "
        "i, 'other-' || i, 1 FROM generate_series(1, 20) AS i");
    Reset();
    LoadReady("que_jobs", jobs);
    const double other = DrainPools(1, 8, jobs);
    Emit("qg", "s10", rep, "other_queue_limits_c8_jobs_per_s", other);
    Emit("qg", "s10", rep, "other_queue_limits_over_plain", other / plain);
    limits(
        "INSERT INTO qg_limits (name, queue, concurrency) "
        "VALUES ('global8', '', 8)");
    Reset();
    LoadReady("que_jobs", jobs);
    const double global8 = DrainPools(2, 8, jobs);
    Emit("qg", "s10", rep, "global8_2x8_jobs_per_s", global8);
    Emit("qg", "s10", rep, "global8_2x8_over_plain_c8", global8 / plain);
    constexpr int kKeyedJobs = 100000;
    limits("");
    Reset();
    LoadKeyed(kKeyedJobs, 1000);
    const double keyed_plain = DrainPools(1, 8, kKeyedJobs);
    Emit("qg", "s10", rep, "keyed_plain_c8_jobs_per_s", keyed_plain);
    limits(
        "INSERT INTO qg_limits (name, key_by, key_args, concurrency) "
        "VALUES ('per-tenant', 'args', '{tenant}', 1)");
    Reset();
    LoadKeyed(kKeyedJobs, 1000);
    fprintf(stderr, "bench: s10 keys1000 drain starts\n");
    const double keyed = DrainPools(1, 8, kKeyedJobs);
    Emit("qg", "s10", rep, "keys1000_limit1_c8_jobs_per_s", keyed);
    Emit("qg", "s10", rep, "keys1000_limit1_over_plain", keyed / keyed_plain);
    limits("");
  }

  // s11: flow control over time (issue 19), fast mode, 2 pools of 8:
  //   rate100: a rate limit of 100 starts/s (burst 1) on a deep queue for
  //     --s11_seconds; the average starts/s over the run and its ratio to
  //     the rule, the most starts in any 1-second window of handler starts
  //     and the fewest in a whole second;
  //   fairness: 10 keys' jobs enqueued at 100/s beside one key with 100,000
  //     waiting jobs, all limited to 1 per key; the 10 keys' pickup latency
  //     p50/p99 beside the same without the deep key.
  void S11(int rep) {
    MustExec(admin_.get(), "DELETE FROM qg_limits");
    Reset();
    const int seconds = absl::GetFlag(FLAGS_s11_seconds);
    LoadReady("que_jobs", std::max(kS3Jobs, 150 * seconds));
    MustExec(admin_.get(),
             "INSERT INTO qg_limits (name, queue, rate, rate_period) "
             "VALUES ('rate100', '', 100, '1 second')");
    std::vector<int64_t> starts;
    {
      Mutex mu;
      qg::WorkMap work_map;
      work_map.Register("Noop", [&](qg::Job&) {
        int64_t now = MonotonicNanos();
        MutexLock lock(mu);
        starts.push_back(now);
        return absl::OkStatus();
      });
      std::vector<std::unique_ptr<qg::Client>> clients;
      std::vector<std::unique_ptr<qg::WorkerPool>> pools;
      qg::WorkerOptions options;
      options.interval = absl::Milliseconds(100);
      for (int i = 0; i < 2; ++i) {
        clients.push_back(NewClient(10));
        pools.push_back(std::make_unique<qg::WorkerPool>(
            clients.back().get(), &work_map, 8, options));
        if (absl::Status st = pools.back()->Start(); !st.ok()) LOG(FATAL) << st;
      }
      absl::SleepFor(absl::Seconds(seconds));
      for (auto& p : pools) p->Shutdown();
    }
    std::sort(starts.begin(), starts.end());
    if (starts.size() > 1) {
      const double span = (starts.back() - starts.front()) / 1e9;
      size_t most = 0, j = 0;
      for (size_t i = 0; i < starts.size(); ++i) {
        while (starts[i] - starts[j] >= 1000000000) ++j;
        most = std::max(most, i - j + 1);
      }
      std::map<int64_t, int64_t> per_second;
      for (int64_t t : starts) ++per_second[(t - starts.front()) / 1000000000];
      int64_t fewest = std::numeric_limits<int64_t>::max();
      for (const auto& [sec, n] : per_second) {
        if (sec + 1 < static_cast<int64_t>(span)) fewest = std::min(fewest, n);
      }
      const double avg = (starts.size() - 1) / span;
      Emit("qg", "s11", rep, "rate100_starts_per_s", avg);
      Emit("qg", "s11", rep, "rate100_over_rule", avg / 100);
      Emit("qg", "s11", rep, "rate100_most_in_1s_window", most);
      Emit("qg", "s11", rep, "rate100_fewest_in_a_second", fewest);
    }
    // Fairness: with and without a deep key.
    for (bool deep : {false, true}) {
      MustExec(admin_.get(), "DELETE FROM qg_limits");
      Reset();
      if (deep) {
        ConnPtr conn = MustConnect(conninfo_);
        std::string rows;
        for (int i = 0; i < 100000; ++i) {
          absl::StrAppend(&rows,
                          "\t100\t2000-01-01 00:00:00+00\tNoop\t"
                          "{\"tenant\":\"deep\"}\n");
        }
        Copy(conn.get(), "que_jobs", rows);
        MustExec(admin_.get(), "CHECKPOINT");
      }
      MustExec(admin_.get(),
               "INSERT INTO qg_limits (name, key_by, key_args, concurrency) "
               "VALUES ('per-tenant', 'args', '{tenant}', 1)");
      Pickups pickups(/*keep_starts=*/false);
      qg::WorkMap work_map;
      work_map.Register("Noop", [&](qg::Job& job) {
        int64_t now = MonotonicNanos();
        absl::string_view args = job.args();
        size_t at = args.find("\"stamp\":");
        int64_t stamp = 0;
        if (at != absl::string_view::npos &&
            absl::SimpleAtoi(absl::StripSuffix(args.substr(at + 8), "}"),
                             &stamp)) {
          pickups.Add(stamp, now);
        }
        absl::SleepFor(absl::Milliseconds(1));
        return absl::OkStatus();
      });
      auto client = NewClient(10);
      qg::WorkerOptions options;
      options.interval = absl::Milliseconds(100);
      qg::WorkerPool pool(client.get(), &work_map, 8, options);
      if (absl::Status st = pool.Start(); !st.ok()) LOG(FATAL) << st;
      auto enqueuer = NewClient(2);
      absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_s11_warmup_s)));
      constexpr int kFairJobs = 1000;
      absl::Time next = absl::Now();
      for (int i = 0; i < kFairJobs; ++i) {
        next += absl::Milliseconds(10);
        absl::SleepFor(next - absl::Now());
        qg::NewJob job{
            .type = "Noop",
            .args = absl::StrCat("{\"tenant\":\"k", i % 10,
                                 "\",\"stamp\":", MonotonicNanos(), "}")};
        absl::Status enqueued = enqueuer->Enqueue(job).status();
        CHECK(enqueued.ok()) << enqueued;
      }
      absl::Time deadline = absl::Now() + absl::Seconds(30);
      while (pickups.size() < kFairJobs && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(10));
      }
      pool.Shutdown();
      std::vector<double> lat = pickups.TakeMs();
      const char* arm = deep ? "beside_deep_key" : "alone";
      Emit("qg", "s11", rep, absl::StrCat("fair_", arm, "_pickup_p50_ms"),
           Percentile(lat, 0.5));
      Emit("qg", "s11", rep, absl::StrCat("fair_", arm, "_pickup_p99_ms"),
           Percentile(lat, 0.99));
      if (lat.size() < kFairJobs) {
        fprintf(stderr, "bench: s11 %s picked up %zu of %d jobs\n", arm,
                lat.size(), kFairJobs);
      }
    }
    MustExec(admin_.get(), "DELETE FROM qg_limits");
  }

  // s9: the s3 drain with and without /metrics scraped 10 times a second
  // (the console's and the pool's own), in the same run.
  void S9(int rep, int c) {
    const int jobs = absl::GetFlag(FLAGS_s9_jobs);
    // Both arms start from a vacuumed table: the console's first snapshot
    // reads every row, and the first reader after a bulk load sets the rows'
    // hint bits, which would otherwise speed up the scraped arm's workers.
    auto load = [&] {
      Reset();
      LoadReady("que_jobs", jobs);
      MustExec(admin_.get(), "VACUUM ANALYZE que_jobs");
    };
    auto plain = [&] {
      load();
      return DrainReady(c, qg::WorkerMode::kFast, jobs);
    };
    auto scraped = [&] {
      load();
      qg::WorkerMetrics metrics;
      auto console =
          qg::Console::Start({.conninfo = conninfo_, .listen = "127.0.0.1:0"});
      CHECK(console.ok()) << console.status();
      auto server = qg::MetricsServer::Start(
          {.listen = "127.0.0.1:0"}, [&metrics] { return metrics.Text(); });
      CHECK(server.ok()) << server.status();
      std::atomic<bool> stop{false};
      std::atomic<int64_t> ok{0}, failed{0};
      absl::Time start = absl::Now();
      std::thread scraper([&] {
        httplib::Client a("127.0.0.1", (*console)->port());
        httplib::Client b("127.0.0.1", (*server)->port());
        absl::Time next = absl::Now();
        while (!stop.load()) {
          for (httplib::Client* client : {&a, &b}) {
            auto r = client->Get("/metrics");
            if (r && r->status == 200) {
              ++ok;
            } else {
              ++failed;
            }
          }
          next += absl::Milliseconds(100);
          absl::SleepFor(next - absl::Now());
        }
      });
      double rate = DrainReady(c, qg::WorkerMode::kFast, jobs, &metrics);
      stop = true;
      scraper.join();
      EmitConsoleCost(rep, (*console)->port());
      double secs = absl::ToDoubleSeconds(absl::Now() - start);
      CHECK_EQ(failed.load(), 0) << "a /metrics scrape failed";
      Emit("qg", "s9", rep, absl::StrCat("scrapes_c", c, "_per_s"),
           ok.load() / 2 / secs);
      return rate;
    };
    double without = 0, with = 0;
    if (rep % 2 == 0) {
      without = plain();
      with = scraped();
    } else {
      with = scraped();
      without = plain();
    }
    Emit("qg", "s9", rep, absl::StrCat("plain_c", c, "_jobs_per_s"), without);
    Emit("qg", "s9", rep, absl::StrCat("scraped_c", c, "_jobs_per_s"), with);
    Emit("qg", "s9", rep, absl::StrCat("scraped_c", c, "_over_plain"),
         with / without);
  }

  // s9: what the console's snapshots cost the database during a drain, as
  // the console's /metrics on `port` reports it.
  void EmitConsoleCost(int rep, int port) {
    httplib::Client probe("127.0.0.1", port);
    httplib::Result r = probe.Get("/metrics");
    if (!r || r->status != 200) return;
    for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
      for (const char* name : {"qg_console_snapshot_duration_seconds ",
                               "qg_console_snapshot_refreshes_total "}) {
        double v = 0;
        if (absl::ConsumePrefix(&line, name) && absl::SimpleAtod(line, &v)) {
          Emit("qg", "s9", rep,
               absl::StrCat("console_",
                            absl::StripSuffix(
                                absl::StripPrefix(name, "qg_console_"), " ")),
               v);
        }
      }
    }
  }

  // Inserts `n` jobs server-side: `queue`, run_at `run_at` (SQL).
  void Backlog(int64_t n, const std::string& queue, const std::string& run_at,
               bool settled = false) {
    MustExec(
        admin_.get(),
        absl::StrCat("INSERT INTO que_jobs (queue, run_at, job_class, "
                     "args) SELECT '",
                     queue, "', ", run_at,
                     ", 'Backlog', '[]' FROM generate_series(1, ", n, ")"));
    if (settled) MustExec(admin_.get(), "VACUUM (ANALYZE) que_jobs");
    MustExec(admin_.get(), "CHECKPOINT");
  }

  // s5: a million jobs, bulk-enqueued by a process of its own, then
  // drained by a pool of c in a process of its own.
  void S5(int rep) {
    for (int c : {8, 32}) {
      Reset();
      auto enq =
          ParseReport(RunSelf({"--stream_role=" + conninfo_,
                               absl::StrCat("--stream_jobs=", kS5Jobs)}));
      Emit("qg", "s5", rep, "enqueue_jobs_per_s", kS5Jobs / enq["seconds"]);
      Emit("qg", "s5", rep, "enqueue_peak_rss_mb", enq["rss_mb"]);
      MustExec(admin_.get(), "CHECKPOINT");
      std::string ids = absl::StrCat("/tmp/qg-bench-ids-", getpid(), "-0");
      auto r = ParseReport(
          RunSelf({"--worker_role=" + conninfo_, absl::StrCat("--workers=", c),
                   "--ids_file=" + ids}));
      unlink(ids.c_str());
      double secs = (r["end_ns"] - r["first_ns"]) / 1e9;
      Emit("qg", "s5", rep, absl::StrCat("drain_c", c, "_jobs_per_s"),
           r["done"] / secs);
      Emit("qg", "s5", rep, absl::StrCat("drain_c", c, "_peak_rss_mb"),
           r["rss_mb"]);
      if (c != 8) continue;
      double prev = r["first_ns"];
      double slowest = 0;
      for (int k = 1; k <= kS5Jobs / 100000; ++k) {
        double at = r[absl::StrCat("slice_", k)];
        if (at == 0) break;
        double rate = 100000 / ((at - prev) / 1e9);
        Emit("qg", "s5", rep, absl::StrCat("drain_c8_slice_", k, "_jobs_per_s"),
             rate);
        slowest = k == 1 ? rate : std::min(slowest, rate);
        prev = at;
      }
      Emit("qg", "s5", rep, "drain_c8_slowest_slice_jobs_per_s", slowest);
    }
  }

  // s6: the s3 drain at 8 workers beside a million-job backlog.
  void S6(int rep) {
    Reset();
    LoadReady("que_jobs", kS6Jobs);
    Emit("qg", "s6", rep, "plain_c8_jobs_per_s",
         DrainReady(8, qg::WorkerMode::kFast, kS6Jobs));
    Reset();
    Backlog(1000000, "", "now() + interval '1 day'", /*settled=*/true);
    LoadReady("que_jobs", kS6Jobs);
    Emit("qg", "s6", rep, "future_backlog_c8_jobs_per_s",
         DrainReady(8, qg::WorkerMode::kFast, kS6Jobs));
    Reset();
    Backlog(1000000, "other", "'2000-01-01'", /*settled=*/true);
    LoadReady("que_jobs", kS6Jobs);
    Emit("qg", "s6", rep, "other_queue_backlog_c8_jobs_per_s",
         DrainReady(8, qg::WorkerMode::kFast, kS6Jobs));
  }

  // s7: churn at half the drain capacity with vacuum held back.
  void S7(int rep) {
    Reset();
    LoadReady("que_jobs");
    double capacity = DrainReady(8, qg::WorkerMode::kFast, kS3Jobs);
    Emit("qg", "s7", rep, "capacity_c8_jobs_per_s", capacity);
    for (bool tuned : {false, true}) {
      Churn(rep, capacity / 2, tuned);
    }
  }

  // s7, one pass: `rate` jobs/s enqueued for --churn_seconds in 8 windows
  // while a REPEATABLE READ transaction holds vacuum back from 10% to 70%
  // of the time; with `tuned`, under README's autovacuum settings.
  void Churn(int rep, double rate, bool tuned) {
    Reset();
    SetAutovacuum(tuned);
    const std::string pass = tuned ? "tuned_" : "";
    const absl::Duration churn =
        absl::Seconds(absl::GetFlag(FLAGS_churn_seconds));
    const int windows = 8;
    const absl::Duration window = churn / windows;
    auto client = NewClient(12);
    RoundTripLog round_trips;
    Pickups pickups(/*keep_starts=*/false);
    std::atomic<int64_t> done{0};
    qg::WorkMap work_map;
    work_map.Register("Churn", [&](qg::Job& job) {
      int64_t now = MonotonicNanos();
      if (std::optional<int64_t> stamp = ArgsStamp(job))
        pickups.Add(*stamp, now);
      ++done;
      return absl::OkStatus();
    });
    qg::WorkerOptions options;
    options.mode = qg::WorkerMode::kFast;
    options.interval = absl::Milliseconds(100);
    options.observer = &round_trips;
    qg::WorkerPool pool(client.get(), &work_map, 8, options);
    if (absl::Status s = pool.Start(); !s.ok()) LOG(FATAL) << s;
    PacedEnqueuer enqueuer(NewClient(2), rate);
    VacuumBlocker blocker(MustConnect(conninfo_), churn);
    ConnPtr probe = MustConnect(conninfo_);
    absl::Time start = absl::Now();
    std::vector<double> blocked_pickup, open_pickup;
    double blocked_done = 0, blocked_secs = 0;
    for (int w = 0; w < windows; ++w) {
      Trace(absl::StrCat("s7 ", pass, "window ", w + 1, " begins"));
      int64_t done_before = done.load();
      absl::Time window_end = start + window * (w + 1);
      while (absl::Now() < window_end) {
        blocker.Follow(absl::Now() - start);
        absl::SleepFor(absl::Milliseconds(20));
      }
      std::vector<double> lat = pickups.TakeMs();
      RoundTripLog::Times times = round_trips.Take();
      double secs = absl::ToDoubleSeconds(window);
      double drained = (done.load() - done_before) / secs;
      // Windows 2-5 lie wholly inside the blocked time (10% .. 70%).
      bool inside = w >= 1 && w <= 4;
      EmitChurnWindow(rep, pass, w + 1, inside, lat, times, drained,
                      probe.get());
      auto& into = inside ? blocked_pickup : open_pickup;
      into.insert(into.end(), lat.begin(), lat.end());
      if (inside) {
        blocked_done += drained * secs;
        blocked_secs += secs;
      }
    }
    enqueuer.Stop();
    blocker.Release();
    pool.Shutdown();
    Emit("qg", "s7", rep, pass + "blocked_pickup_p99_ms",
         Percentile(blocked_pickup, 0.99));
    Emit("qg", "s7", rep, pass + "open_pickup_p99_ms",
         Percentile(open_pickup, 0.99));
    Emit("qg", "s7", rep, pass + "blocked_drained_over_enqueued",
         blocked_secs > 0 ? (blocked_done / blocked_secs) / rate : 0);
  }

  // s7: README's recommended autovacuum settings for que_jobs (`tuned`), or
  // PostgreSQL's defaults.
  void SetAutovacuum(bool tuned) {
    if (tuned) {
      // What README's operations guide recommends for que_jobs.
      MustExec(admin_.get(),
               "ALTER TABLE que_jobs SET (autovacuum_vacuum_scale_factor = 0, "
               "autovacuum_vacuum_threshold = 10000, "
               "autovacuum_vacuum_cost_delay = 0, "
               "autovacuum_analyze_scale_factor = 0, "
               "autovacuum_analyze_threshold = 10000)");
      MustExec(admin_.get(), "ALTER SYSTEM SET autovacuum_naptime = '5s'");
    } else {
      MustExec(
          admin_.get(),
          "ALTER TABLE que_jobs RESET (autovacuum_vacuum_scale_factor, "
          "autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay, "
          "autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)");
      MustExec(admin_.get(), "ALTER SYSTEM RESET autovacuum_naptime");
    }
    MustExec(admin_.get(), "SELECT pg_reload_conf()");
  }

  // s7: enqueues "Churn" jobs stamped with CLOCK_MONOTONIC at `rate` jobs/s
  // (in batches every 10 ms) on a thread of its own until `Stop()`.
  class PacedEnqueuer {
   public:
    PacedEnqueuer(std::unique_ptr<qg::Client> client, double rate)
        : client_(std::move(client)),
          rate_(rate),
          thread_([this] { Loop(); }) {}
    ~PacedEnqueuer() { Stop(); }

    void Stop() {
      stop_ = true;
      if (thread_.joinable()) thread_.join();
    }

   private:
    void Loop() {
      const absl::Duration tick = absl::Milliseconds(10);
      double carry = 0;
      absl::Time next = absl::Now();
      while (!stop_) {
        carry += rate_ * absl::ToDoubleSeconds(tick);
        int n = static_cast<int>(carry);
        carry -= n;
        if (n > 0) {
          std::vector<qg::NewJob> jobs(n);
          std::string stamp = absl::StrCat("[", MonotonicNanos(), "]");
          for (auto& j : jobs) {
            j.type = "Churn";
            j.args = stamp;
          }
          absl::Status st = client_->EnqueueMany(jobs).status();
          CHECK(st.ok()) << st;
        }
        next += tick;
        absl::SleepFor(next - absl::Now());
      }
    }

    const std::unique_ptr<qg::Client> client_;
    const double rate_;
    std::atomic<bool> stop_{false};
    std::thread thread_;  // last: starts once the rest is set
  };

  // s7: holds a REPEATABLE READ transaction open (which holds vacuum back)
  // from 10% to 70% of a churn pass.
  class VacuumBlocker {
   public:
    VacuumBlocker(ConnPtr conn, absl::Duration churn)
        : conn_(std::move(conn)), churn_(churn) {}

    // Begins or ends the transaction, `elapsed` into the pass.
    void Follow(absl::Duration elapsed) {
      if (!blocked_ && elapsed >= churn_ / 10) {
        MustExec(conn_.get(),
                 "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) "
                 "FROM que_jobs");
        blocked_ = true;
        Trace("s7 transaction begins");
      }
      if (blocked_ && !released_ && elapsed >= churn_ * 7 / 10) {
        MustExec(conn_.get(), "COMMIT");
        released_ = true;
        Trace("s7 transaction ends");
      }
    }

    // Ends the transaction if it is still open.
    void Release() {
      if (!released_) MustExec(conn_.get(), "COMMIT");
      released_ = true;
    }

   private:
    const ConnPtr conn_;
    const absl::Duration churn_;
    bool blocked_ = false, released_ = false;
  };

  // With --trace_ms, prints `what` with the time on stderr.
  static void Trace(const std::string& what) {
    if (absl::GetFlag(FLAGS_trace_ms) > 0) {
      fprintf(stderr, "bench: %s %s\n", RoundTripLog::Stamp().c_str(),
              what.c_str());
    }
  }

  // s7: the figures of window `window` (from 1) of a pass, emitted and
  // printed on stderr, with que_jobs' size read on `probe`.
  void EmitChurnWindow(int rep, const std::string& pass, int window,
                       bool inside, const std::vector<double>& lat,
                       const RoundTripLog::Times& times, double drained,
                       PGconn* probe) {
    const std::string name = absl::StrCat(pass, "w", window, "_");
    const std::vector<double>& rt = times.all;
    auto size = qg::Exec(
        probe,
        "SELECT pg_relation_size('que_jobs') / 1048576.0, "
        "pg_relation_size('que_jobs_pkey') / 1048576.0, (SELECT "
        "n_dead_tup FROM pg_stat_user_tables WHERE relname = 'que_jobs')");
    CHECK(size.ok()) << size.status();
    double table_mb = NumberOr0(size->Get(0, 0));
    double index_mb = NumberOr0(size->Get(0, 1));
    double dead = NumberOr0(size->Get(0, 2));
    Emit("qg", "s7", rep, name + "pickup_p50_ms", Percentile(lat, 0.5));
    Emit("qg", "s7", rep, name + "pickup_p99_ms", Percentile(lat, 0.99));
    Emit("qg", "s7", rep, name + "round_trip_p50_ms", Percentile(rt, 0.5));
    Emit("qg", "s7", rep, name + "round_trip_p99_ms", Percentile(rt, 0.99));
    Emit("qg", "s7", rep, name + "drained_jobs_per_s", drained);
    Emit("qg", "s7", rep, name + "table_mb", table_mb);
    Emit("qg", "s7", rep, name + "index_mb", index_mb);
    Emit("qg", "s7", rep, name + "dead_tuples", dead);
    Emit("qg", "s7", rep, name + "head_walks", times.from_head.size());
    Emit("qg", "s7", rep, name + "head_walk_p50_ms",
         Percentile(times.from_head, 0.5));
    Emit("qg", "s7", rep, name + "sweeps", times.sweeps.size());
    Emit("qg", "s7", rep, name + "sweep_p50_ms", Percentile(times.sweeps, 0.5));
    fprintf(stderr,
            "bench: s7 %swindow %d: pickup p50/p99 %.2f/%.2f ms, round "
            "trip p50/p99 %.2f/%.2f ms (%zu; %zu from the head, p50 %.1f "
            "ms; %zu sweeps beside, p50 %.1f ms), %.0f jobs/s, table %.1f "
            "MB, index %.1f MB, %.0f dead tuples%s\n",
            pass.c_str(), window, Percentile(lat, 0.5), Percentile(lat, 0.99),
            Percentile(rt, 0.5), Percentile(rt, 0.99), rt.size(),
            times.from_head.size(), Percentile(times.from_head, 0.5),
            times.sweeps.size(), Percentile(times.sweeps, 0.5), drained,
            table_mb, index_mb, dead, inside ? " (vacuum blocked)" : "");
  }

  // s8: P processes of W workers drain 200,000 jobs together, each pool
  // with --sessions lanes; and one process of 8 workers in 2 lanes (the
  // sessions two processes of 4 have between them: "p1x8_lanes2").
  void S8(int rep) {
    struct Shape {
      int procs, workers, lanes;  // lanes 0: --sessions
    };
    std::map<std::string, double> rates;
    for (const Shape& shape : std::vector<Shape>{
             {1, 8, 0}, {2, 8, 0}, {4, 8, 0}, {2, 4, 0}, {1, 8, 2}}) {
      const int procs = shape.procs, w = shape.workers;
      std::vector<std::string> role_args = {"--worker_role=" + conninfo_,
                                            absl::StrCat("--workers=", w)};
      if (shape.lanes > 0) {
        role_args.push_back(absl::StrCat("--sessions=", shape.lanes));
      }
      Reset();
      Backlog(kS8Jobs, "", "'2000-01-01'");
      MustExec(admin_.get(), "UPDATE que_jobs SET job_class = 'Noop'");
      MustExec(admin_.get(), "CHECKPOINT");
      std::vector<std::thread> threads;
      std::vector<std::map<std::string, double>> reports(procs);
      std::vector<std::string> files;
      for (int i = 0; i < procs; ++i) {
        files.push_back(absl::StrCat("/tmp/qg-bench-ids-", getpid(), "-", i));
        threads.emplace_back([&, i] {
          std::vector<std::string> args = role_args;
          args.push_back("--ids_file=" + files[i]);
          reports[i] = ParseReport(RunSelf(args));
        });
      }
      for (auto& t : threads) t.join();
      double first = 0, end = 0, done = 0, conns = 0;
      absl::flat_hash_map<int64_t, int> seen;
      int64_t twice = 0;
      for (int i = 0; i < procs; ++i) {
        auto& r = reports[i];
        if (r["first_ns"] > 0 && (first == 0 || r["first_ns"] < first)) {
          first = r["first_ns"];
        }
        end = std::max(end, r["end_ns"]);
        done += r["done"];
        conns = std::max(conns, r["connections"]);
        FILE* f = fopen(files[i].c_str(), "r");
        long long id;
        while (f != nullptr && fscanf(f, "%lld", &id) == 1) {
          if (++seen[id] == 2) ++twice;
        }
        if (f != nullptr) fclose(f);
        unlink(files[i].c_str());
      }
      std::string name = absl::StrCat(
          "p", procs, "x", w,
          shape.lanes > 0 ? absl::StrCat("_lanes", shape.lanes) : "", "_");
      rates[name] = done / ((end - first) / 1e9);
      Emit("qg", "s8", rep, name + "jobs_per_s", rates[name]);
      Emit("qg", "s8", rep, name + "connections_per_process", conns);
      Emit("qg", "s8", rep, name + "ran_twice", static_cast<double>(twice));
      Emit("qg", "s8", rep, name + "ran", static_cast<double>(seen.size()));
    }
    // The target: one process as good as two (>= 0.9).
    Emit("qg", "s8", rep, "p1x8_over_p2x4", rates["p1x8_"] / rates["p2x4_"]);
    Emit("qg", "s8", rep, "p1x8_lanes2_over_p2x4",
         rates["p1x8_lanes2_"] / rates["p2x4_"]);
  }

  void S3Floor(int rep, int c) {
    Reset();
    LoadReady("qg_bench_floor");
    std::vector<ConnPtr> conns;
    for (int i = 0; i < c; ++i) conns.push_back(MustConnect(conninfo_));
    ConnPtr watch = MustConnect(conninfo_);
    absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_cap));
    std::atomic<bool> stop{false};
    std::atomic<int64_t> deleted{0};
    std::vector<std::thread> threads;
    int64_t start = MonotonicNanos();
    for (int i = 0; i < c; ++i) {
      threads.emplace_back([&, conn = conns[i].get()] {
        while (!stop) {
          auto r = qg::Exec(
              conn,
              "DELETE FROM qg_bench_floor WHERE (queue, priority, run_at, "
              "job_id) IN (SELECT queue, priority, run_at, job_id FROM "
              "qg_bench_floor ORDER BY priority, run_at, job_id FOR UPDATE "
              "SKIP LOCKED LIMIT 50)");
          CHECK(r.ok()) << r.status();
          if (r->AffectedRows() == 0) break;
          deleted += r->AffectedRows();
        }
      });
    }
    // As DrainReady: the database is asked only at the end.
    while (deleted.load() < kS3Jobs && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    int64_t left = WaitEmpty(watch.get(), "qg_bench_floor", deadline);
    int64_t end = MonotonicNanos();
    stop = true;
    for (auto& t : threads) t.join();
    Emit("floor", "s3", rep, absl::StrCat("drain_c", c, "_jobs_per_s"),
         (kS3Jobs - left) / ((end - start) / 1e9));
  }

  void S4(int rep, qg::WorkerMode mode) {
    Reset();
    auto client = NewClient(4);
    Pickups pickups(/*keep_starts=*/true);
    qg::WorkMap work_map;
    work_map.Register("Pickup", [&](qg::Job& job) {
      int64_t now = MonotonicNanos();
      if (std::optional<int64_t> stamp = ArgsStamp(job))
        pickups.Add(*stamp, now);
      return absl::OkStatus();
    });
    std::string log_path = absl::StrCat("/tmp/qg-bench-enqueuer-", getpid());
    qg::WorkerOptions options;
    options.mode = mode;  // the qg-compatible path polls: keep qg's default
    qg::WorkerPool pool(client.get(), &work_map, 2, options);
    if (absl::Status s = pool.Start(); !s.ok()) LOG(FATAL) << s;
    absl::SleepFor(absl::Milliseconds(300));  // idle
    pid_t child = fork();
    if (child == 0) {
      std::string self = "/proc/self/exe";
      std::string flag = absl::StrCat("--enqueuer=", conninfo_);
      std::string tag = absl::StrCat(
          "--enqueuer_tag={\"config\":\"", config_, "\",\"peer\":\"",
          mode == qg::WorkerMode::kFast ? "qg" : "qg-compat",
          "\",\"scenario\":\"s4\",\"rep\":", rep);
      std::string log = absl::StrCat("--enqueuer_log=", log_path);
      execl(self.c_str(), "bench", flag.c_str(), tag.c_str(), log.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "enqueuer failed";
    absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_cap));
    while (absl::Now() < deadline && pickups.size() < kS4Jobs) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    pool.Shutdown();
    std::vector<double> lat = pickups.TakeMs();
    std::map<int64_t, int64_t> started = pickups.started();
    std::string peer = mode == qg::WorkerMode::kFast ? "qg" : "qg-compat";
    Emit(peer, "s4", rep, "pickup_p50_ms", Percentile(lat, 0.5));
    Emit(peer, "s4", rep, "pickup_p99_ms", Percentile(lat, 0.99));
    // The queue's own share: handler start minus the moment the enqueue call
    // returned (negative when the job started before the enqueuer heard
    // back from its commit).
    std::vector<double> after;
    if (FILE* f = fopen(log_path.c_str(), "r")) {
      long long stamp, returned;
      while (fscanf(f, "%lld %lld", &stamp, &returned) == 2) {
        auto it = started.find(stamp);
        if (it != started.end()) after.push_back((it->second - returned) / 1e6);
      }
      fclose(f);
      unlink(log_path.c_str());
    }
    if (!after.empty()) {
      Emit(peer, "s4", rep, "after_enqueue_p50_ms", Percentile(after, 0.5));
    }
    if (lat.size() < kS4Jobs) {
      fprintf(stderr, "bench: s4 %s picked up %zu of %d jobs within the cap\n",
              peer.c_str(), lat.size(), kS4Jobs);
    }
  }

  // The readable table: per metric, medians and ratios.
  void PrintTable() {
    std::map<std::pair<std::string, std::string>,
             std::map<std::string, std::vector<double>>>
        by;
    for (const Figure& f : figures_)
      by[{f.scenario, f.metric}][f.peer].push_back(f.value);
    fprintf(stderr, "\nqg-cpp bench (%s), medians of %d run(s)\n",
            config_.c_str(), absl::GetFlag(FLAGS_reps));
    fprintf(stderr, "%-4s %-22s %12s %12s %12s %10s %10s\n", "", "metric", "qg",
            "qg-compat", "floor", "qg/floor", "qg/compat");
    for (const auto& row : by) {
      const std::pair<std::string, std::string>& key = row.first;
      const std::map<std::string, std::vector<double>>& peers = row.second;
      auto med = [&](const char* p) -> std::optional<double> {
        auto it = peers.find(p);
        if (it == peers.end()) return std::nullopt;
        return Median(it->second);
      };
      auto cell = [](std::optional<double> v) {
        return v ? absl::StrFormat("%12.2f", *v) : absl::StrFormat("%12s", "-");
      };
      auto ratio = [](std::optional<double> a, std::optional<double> b) {
        return a && b && *b != 0 ? absl::StrFormat("%10.2f", *a / *b)
                                 : absl::StrFormat("%10s", "-");
      };
      auto qg = med("qg"), compat = med("qg-compat"), floor = med("floor");
      fprintf(stderr, "%-4s %-22s %s %s %s %s %s\n", key.first.c_str(),
              key.second.c_str(), cell(qg).c_str(), cell(compat).c_str(),
              cell(floor).c_str(), ratio(qg, floor).c_str(),
              ratio(qg, compat).c_str());
    }
  }

 private:
  std::string conninfo_;
  ConnPtr admin_;
  std::string config_;
  std::vector<Figure> figures_;
};

// s4's separate process: 200 jobs, 10 ms apart, each stamped just before
// its enqueue call.
int RunEnqueuer(const std::string& conninfo) {
  auto client = qg::Client::Create({.conninfo = conninfo, .max_conns = 1});
  if (!client.ok()) {
    fprintf(stderr, "enqueuer: %s\n", client.status().ToString().c_str());
    return 1;
  }
  // Warm the connection so the first stamp does not include connecting.
  if (!(*client)->Stats().ok()) return 1;
  std::vector<double> lat;
  FILE* log = nullptr;
  if (!absl::GetFlag(FLAGS_enqueuer_log).empty()) {
    log = fopen(absl::GetFlag(FLAGS_enqueuer_log).c_str(), "w");
  }
  for (int i = 0; i < kS4Jobs; ++i) {
    int64_t stamp = MonotonicNanos();
    auto id = (*client)->Enqueue(
        {.type = "Pickup", .args = absl::StrCat("[", stamp, "]")});
    if (!id.ok()) {
      fprintf(stderr, "enqueuer: %s\n", id.status().ToString().c_str());
      return 1;
    }
    int64_t returned = MonotonicNanos();
    lat.push_back((returned - stamp) / 1e6);
    if (log != nullptr) {
      fprintf(log, "%lld %lld\n", static_cast<long long>(stamp),
              static_cast<long long>(returned));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (log != nullptr) fclose(log);
  // For context: how much of the pickup time is the enqueue's own commit.
  std::string tag = absl::GetFlag(FLAGS_enqueuer_tag);
  if (!tag.empty()) {
    printf("%s,\"metric\":\"enqueue_p50_ms\",\"value\":%.3f}\n", tag.c_str(),
           Percentile(lat, 0.5));
  }
  return 0;
}

// s5/s8's worker process: a fast pool of --workers no-op workers that stops
// once the default queue is empty. Prints "key value" lines: done, first_ns,
// end_ns (CLOCK_MONOTONIC, shared by all processes), slice_<k> (when the
// k-th 100,000 finished), rss_mb (peak), connections (of this process, seen
// by the server); writes the ids it ran to --ids_file.
int RunWorkerRole(const std::string& conninfo) {
  setenv("PGAPPNAME", absl::StrCat("qg-bench-", getpid()).c_str(), 1);
  auto client = qg::Client::Create({.conninfo = conninfo, .max_conns = 2});
  CHECK(client.ok()) << client.status();
  RunLog ran;
  std::atomic<int64_t> first{0}, done{0};
  qg::WorkMap work_map;
  work_map.Register("Noop", [&](qg::Job& job) {
    int64_t zero = 0;
    first.compare_exchange_strong(zero, MonotonicNanos());
    ran.Add(job.id(), ++done);
    return absl::OkStatus();
  });
  qg::WorkerOptions options;
  options.mode = qg::WorkerMode::kFast;
  options.interval = absl::Milliseconds(100);
  options.buffer = absl::GetFlag(FLAGS_buffer);
  options.recheck_after = absl::Milliseconds(absl::GetFlag(FLAGS_recheck_ms));
  options.sessions = absl::GetFlag(FLAGS_sessions);
  RoundTripLog trace;  // prints slow round trips with --trace_ms
  if (absl::GetFlag(FLAGS_trace_ms) > 0) options.observer = &trace;
  qg::WorkerPool pool(client->get(), &work_map, absl::GetFlag(FLAGS_workers),
                      options);
  ConnPtr watch = MustConnect(conninfo);
  if (absl::Status st = pool.Start(); !st.ok()) LOG(FATAL) << st;
  int64_t connections = 0;
  while (true) {
    absl::Time asked = absl::Now();
    auto r = qg::Exec(
        watch.get(),
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM que_jobs WHERE queue = "
        "'' ORDER BY queue, priority, run_at, job_id LIMIT 1) t), (SELECT "
        "count(*) FROM pg_stat_activity WHERE "
        "application_name = current_setting('application_name') AND pid <> "
        "pg_backend_pid())");
    CHECK(r.ok()) << r.status();
    if (absl::GetFlag(FLAGS_trace_ms) > 0) {
      trace.Take();  // bounded memory
      double ms = absl::ToDoubleMilliseconds(absl::Now() - asked);
      if (ms > absl::GetFlag(FLAGS_trace_ms)) {
        fprintf(stderr, "bench: %s [%d] emptiness check %.1f ms\n",
                RoundTripLog::Stamp().c_str(), static_cast<int>(getpid()), ms);
      }
    }
    connections =
        std::max(connections, static_cast<int64_t>(NumberOr0(r->Get(0, 1))));
    if (r->Get(0, 0) == "0") break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  int64_t end = MonotonicNanos();
  pool.Shutdown();
  printf(
      "done %lld\nfirst_ns %lld\nend_ns %lld\nrss_mb %.1f\nconnections %lld\n",
      static_cast<long long>(done.load()), static_cast<long long>(first.load()),
      static_cast<long long>(end), PeakRssMb(),
      static_cast<long long>(connections));
  std::vector<int64_t> slices = ran.slices();
  for (size_t k = 0; k < slices.size(); ++k) {
    printf("slice_%zu %lld\n", k + 1, static_cast<long long>(slices[k]));
  }
  std::string path = absl::GetFlag(FLAGS_ids_file);
  if (!path.empty()) {
    FILE* f = fopen(path.c_str(), "w");
    CHECK(f != nullptr) << path;
    for (int64_t id : ran.ids()) {
      fprintf(f, "%lld\n", static_cast<long long>(id));
    }
    fclose(f);
  }
  return 0;
}

// s5's enqueuing process: --stream_jobs ready no-op jobs through one
// EnqueueStream. Prints seconds and rss_mb (peak).
int RunStreamRole(const std::string& conninfo) {
  auto client = qg::Client::Create({.conninfo = conninfo, .max_conns = 1});
  CHECK(client.ok()) << client.status();
  const int n = absl::GetFlag(FLAGS_stream_jobs);
  int i = 0;
  absl::Time start = absl::Now();
  auto stored = (*client)->EnqueueStream([&](qg::NewJob& job) {
    if (i == n) return false;
    job.type = "Noop";
    job.args = absl::StrCat("[", i, "]");
    job.run_at = absl::FromUnixSeconds(946684800);
    ++i;
    return true;
  });
  CHECK(stored.ok()) << stored.status();
  printf("seconds %.3f\nrss_mb %.1f\n",
         absl::ToDoubleSeconds(absl::Now() - start), PeakRssMb());
  return 0;
}

// What the command line asks the orchestrating run for.
struct Plan {
  std::set<std::string> scenarios;
  std::vector<int> cs;  // --c
  int reps = 1;
  std::vector<qg::WorkerMode> modes;
};

// The plan from the flags, or nullopt after saying on stderr which flag is
// wrong.
std::optional<Plan> PlanFromFlags() {
  Plan plan;
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_scenario), ',', absl::SkipEmpty())) {
    if (part == "core") {
      plan.scenarios.insert({"s1", "s2", "s3", "s4"});
    } else if (part == "scale") {
      plan.scenarios.insert({"s5", "s6", "s7", "s8"});
    } else if (part == "all" || part == "every") {
      plan.scenarios.insert(
          {"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"});
    } else if (part == "s10" || part == "s11" || part == "s12" ||
               part == "s13" || part == "s14") {
      plan.scenarios.insert(std::string(part));
    } else if (part.size() == 2 && part[0] == 's' && part[1] >= '1' &&
               part[1] <= '9') {
      plan.scenarios.insert(std::string(part));
    } else {
      fprintf(stderr,
              "bench: --scenario takes s1 .. s14, core, scale or all, "
              "comma-separated\n");
      return std::nullopt;
    }
  }
  std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "both" && mode != "fast" && mode != "qg-compat") {
    fprintf(stderr, "bench: --mode must be fast, qg-compat or both\n");
    return std::nullopt;
  }
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_c), ',')) {
    int c = 0;
    if (!absl::SimpleAtoi(part, &c) || c < 1) {
      fprintf(stderr, "bench: --c takes worker counts such as 8 or 1,8,32\n");
      return std::nullopt;
    }
    plan.cs.push_back(c);
  }
  plan.reps = absl::GetFlag(FLAGS_reps);
  if (plan.reps < 1) {
    fprintf(stderr, "bench: --reps must be at least 1\n");
    return std::nullopt;
  }
  if (mode != "qg-compat") plan.modes.push_back(qg::WorkerMode::kFast);
  if (mode != "fast") plan.modes.push_back(qg::WorkerMode::kQgCompat);
  return plan;
}

// Every scenario of `plan`, --reps times, in order.
void RunPlan(Bench& bench, const Plan& plan) {
  auto want = [&](const char* s) { return plan.scenarios.count(s) > 0; };
  for (int rep = 0; rep < plan.reps; ++rep) {
    fprintf(stderr, "bench: repetition %d of %d\n", rep + 1, plan.reps);
    if (want("s1")) bench.S1(rep);
    if (want("s2")) bench.S2(rep);
    if (want("s3")) {
      for (int c : plan.cs) {
        for (qg::WorkerMode m : plan.modes) bench.S3(rep, c, m);
        bench.S3Floor(rep, c);
      }
    }
    if (want("s4")) {
      for (qg::WorkerMode m : plan.modes) bench.S4(rep, m);
    }
    if (want("s5")) bench.S5(rep);
    if (want("s6")) bench.S6(rep);
    if (want("s7")) bench.S7(rep);
    if (want("s8")) bench.S8(rep);
    if (want("s9")) {
      for (int c : plan.cs) bench.S9(rep, c);
    }
    if (want("s10")) bench.S10(rep);
    if (want("s11")) bench.S11(rep);
    if (want("s12")) {
      for (int c : plan.cs) bench.S12(rep, c);
    }
    if (want("s13")) {
      for (int c : plan.cs) bench.S13(rep, c);
    }
    if (want("s14")) {
      for (int c : plan.cs) bench.S14(rep, c);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  if (!absl::GetFlag(FLAGS_enqueuer).empty()) {
    return RunEnqueuer(absl::GetFlag(FLAGS_enqueuer));
  }
  if (!absl::GetFlag(FLAGS_worker_role).empty()) {
    return RunWorkerRole(absl::GetFlag(FLAGS_worker_role));
  }
  if (!absl::GetFlag(FLAGS_stream_role).empty()) {
    return RunStreamRole(absl::GetFlag(FLAGS_stream_role));
  }
  std::optional<Plan> plan = PlanFromFlags();
  if (!plan) return 2;

  std::unique_ptr<qg::EmbeddedPostgres> server;
  std::string conninfo;
  if (std::optional<std::string> url = qg::ResolveConninfo("")) {
    conninfo = *url;
  } else {
    qg::EmbeddedPostgresOptions options;
    options.durable = true;
    auto s = qg::EmbeddedPostgres::Start(options);
    if (!s.ok()) {
      fprintf(stderr, "bench: %s\n", s.status().ToString().c_str());
      return 1;
    }
    server = std::move(*s);
    conninfo = server->conninfo();
    fprintf(stderr,
            "bench: embedded PostgreSQL, durable defaults, data in %s\n",
            server->data_dir().c_str());
  }
  Bench bench(conninfo);
  RunPlan(bench, *plan);
  bench.PrintTable();
  return 0;
}
