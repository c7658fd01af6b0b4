// bench: qg-cpp's throughput and latency, side by side with plain-SQL floors
// and with the qg-compatible worker path, in one run.
//
//   bazel run -c opt //tools:bench -- [--scenario s1|s2|s3|s4|all] [--c 1,8,32]
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
//
// stdout: one JSON object per line; stderr: progress and the final table.
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "qg/client.h"
#include "qg/internal/pg.h"
#include "qg/testing/postgres.h"
#include "qg/worker/worker.h"

ABSL_FLAG(std::string, scenario, "all", "s1, s2, s3, s4 or all");
ABSL_FLAG(std::string, c, "8",
          "s3 worker counts, comma-separated (e.g. 1,8,32)");
ABSL_FLAG(int, reps, 3, "repetitions per scenario; medians are reported");
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

using qg::internal::ConnPtr;

constexpr int kS1Jobs = 20000, kS1Call = 1000;
constexpr int kS2Jobs = 3000;
constexpr int kS3Jobs = 20000;
constexpr int kS4Jobs = 200;

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

ConnPtr MustConnect(const std::string& conninfo) {
  auto conn = qg::internal::Connect(conninfo);
  CHECK(conn.ok()) << conn.status();
  return std::move(*conn);
}

void MustExec(PGconn* conn, const std::string& sql,
              const qg::internal::Params& params = {}) {
  auto r = params.empty() ? qg::internal::ExecSimple(conn, sql)
                          : qg::internal::Exec(conn, sql, params);
  CHECK(r.ok()) << sql << ": " << r.status();
}

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
    auto r = qg::internal::Exec(admin_.get(),
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
    qg::internal::Result start(PQexec(
        conn, absl::StrCat("COPY ", table,
                           " (queue, priority, run_at, job_class, args) FROM "
                           "STDIN")
                  .c_str()));
    CHECK_EQ(PQresultStatus(start.get()), PGRES_COPY_IN)
        << PQerrorMessage(conn);
    CHECK_EQ(PQputCopyData(conn, rows.data(), rows.size()), 1);
    CHECK_EQ(PQputCopyEnd(conn, nullptr), 1);
    qg::internal::Result end(PQgetResult(conn));
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
    CHECK(qg::internal::Prepare(conn.get(), "floor_insert",
                                "INSERT INTO qg_bench_floor (job_class, args) "
                                "VALUES ($1, $2::json)")
              .ok());
    lat.clear();
    start = absl::Now();
    for (int i = 0; i < kS2Jobs; ++i) {
      absl::Time t = absl::Now();
      auto r = qg::internal::ExecPrepared(conn.get(), "floor_insert",
                                          {"Bench", absl::StrCat("[", i, "]")});
      CHECK(r.ok()) << r.status();
      lat.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    }
    secs = absl::ToDoubleSeconds(absl::Now() - start);
    Emit("floor", "s2", rep, "jobs_per_s", kS2Jobs / secs);
    Emit("floor", "s2", rep, "p50_ms", Percentile(lat, 0.5));
    Emit("floor", "s2", rep, "p99_ms", Percentile(lat, 0.99));
  }

  // Loads kS3Jobs ready jobs into `table`.
  void LoadReady(const std::string& table) {
    ConnPtr conn = MustConnect(conninfo_);
    Copy(conn.get(), table, CopyRows(0, kS3Jobs, "Noop"));
    MustExec(admin_.get(), "CHECKPOINT");
  }

  // Waits until `table` is empty or `cap` passes; returns rows left.
  int64_t WaitEmpty(PGconn* conn, const std::string& table,
                    absl::Time deadline) {
    std::string sql = absl::StrCat("SELECT count(*) FROM (SELECT 1 FROM ",
                                   table, " LIMIT 1) t");
    while (true) {
      auto r = qg::internal::Exec(conn, sql);
      CHECK(r.ok()) << r.status();
      if (r->Get(0, 0) == "0") return 0;
      if (absl::Now() > deadline) {
        auto n = qg::internal::Exec(
            conn, absl::StrCat("SELECT count(*) FROM ", table));
        int64_t left = 0;
        CHECK(n.ok() && absl::SimpleAtoi(n->Get(0, 0), &left));
        return left;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  void S3(int rep, int c, qg::WorkerMode mode) {
    Reset();
    LoadReady("que_jobs");
    auto client = NewClient(c + 2);
    std::atomic<int64_t> first{0};
    qg::WorkMap work_map;
    work_map.Register("Noop", [&](qg::Job&) {
      int64_t zero = 0;
      first.compare_exchange_strong(zero, MonotonicNanos());
      return absl::OkStatus();
    });
    qg::WorkerOptions options;
    options.mode = mode;
    options.interval = absl::Milliseconds(100);
    options.buffer = absl::GetFlag(FLAGS_buffer);
    options.recheck_after = absl::Milliseconds(absl::GetFlag(FLAGS_recheck_ms));
    qg::WorkerPool pool(client.get(), &work_map, c, options);
    ConnPtr watch = MustConnect(conninfo_);
    absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_cap));
    if (absl::Status s = pool.Start(); !s.ok()) LOG(FATAL) << s;
    int64_t left = WaitEmpty(watch.get(), "que_jobs", deadline);
    int64_t end = MonotonicNanos();
    pool.Shutdown();
    double secs = (end - first.load()) / 1e9;
    Emit(mode == qg::WorkerMode::kFast ? "qg" : "qg-compat", "s3", rep,
         absl::StrCat("drain_c", c, "_jobs_per_s"), (kS3Jobs - left) / secs);
  }

  void S3Floor(int rep, int c) {
    Reset();
    LoadReady("qg_bench_floor");
    std::vector<ConnPtr> conns;
    for (int i = 0; i < c; ++i) conns.push_back(MustConnect(conninfo_));
    ConnPtr watch = MustConnect(conninfo_);
    absl::Time deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_cap));
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    int64_t start = MonotonicNanos();
    for (int i = 0; i < c; ++i) {
      threads.emplace_back([&, conn = conns[i].get()] {
        while (!stop) {
          auto r = qg::internal::Exec(
              conn,
              "DELETE FROM qg_bench_floor WHERE (queue, priority, run_at, "
              "job_id) IN (SELECT queue, priority, run_at, job_id FROM "
              "qg_bench_floor ORDER BY priority, run_at, job_id FOR UPDATE "
              "SKIP LOCKED LIMIT 50)");
          CHECK(r.ok()) << r.status();
          if (r->AffectedRows() == 0) break;
        }
      });
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
    std::mutex mu;
    std::vector<double> lat;
    std::map<int64_t, int64_t> started;  // stamp -> handler start
    qg::WorkMap work_map;
    work_map.Register("Pickup", [&](qg::Job& job) {
      int64_t now = MonotonicNanos();
      int64_t stamp = 0;
      std::string args(
          absl::StripPrefix(absl::StripSuffix(job.args(), "]"), "["));
      if (absl::SimpleAtoi(args, &stamp)) {
        std::lock_guard<std::mutex> lock(mu);
        lat.push_back((now - stamp) / 1e6);
        started[stamp] = now;
      }
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
    while (absl::Now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (lat.size() >= kS4Jobs) break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    pool.Shutdown();
    std::lock_guard<std::mutex> lock(mu);
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
    for (auto& [key, peers] : by) {
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

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;
  if (!absl::GetFlag(FLAGS_enqueuer).empty()) {
    return RunEnqueuer(absl::GetFlag(FLAGS_enqueuer));
  }
  std::string scenario = absl::GetFlag(FLAGS_scenario);
  std::string mode = absl::GetFlag(FLAGS_mode);
  if (scenario != "all" && scenario != "s1" && scenario != "s2" &&
      scenario != "s3" && scenario != "s4") {
    fprintf(stderr, "bench: --scenario must be s1, s2, s3, s4 or all\n");
    return 2;
  }
  if (mode != "both" && mode != "fast" && mode != "qg-compat") {
    fprintf(stderr, "bench: --mode must be fast, qg-compat or both\n");
    return 2;
  }
  std::vector<int> cs;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_c), ',')) {
    int c = 0;
    if (!absl::SimpleAtoi(part, &c) || c < 1) {
      fprintf(stderr, "bench: --c takes worker counts such as 8 or 1,8,32\n");
      return 2;
    }
    cs.push_back(c);
  }
  int reps = absl::GetFlag(FLAGS_reps);
  if (reps < 1) {
    fprintf(stderr, "bench: --reps must be at least 1\n");
    return 2;
  }
  std::vector<qg::WorkerMode> modes;
  if (mode != "qg-compat") modes.push_back(qg::WorkerMode::kFast);
  if (mode != "fast") modes.push_back(qg::WorkerMode::kQgCompat);

  std::unique_ptr<qg_testing::PostgresServer> server;
  std::string conninfo;
  if (const char* url = getenv("DATABASE_URL"); url != nullptr && *url) {
    conninfo = url;
  } else {
    qg_testing::PostgresServerOptions options;
    options.durable = true;
    auto s = qg_testing::PostgresServer::Start(options);
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
  auto want = [&](const char* s) { return scenario == "all" || scenario == s; };
  for (int rep = 0; rep < reps; ++rep) {
    fprintf(stderr, "bench: repetition %d of %d\n", rep + 1, reps);
    if (want("s1")) bench.S1(rep);
    if (want("s2")) bench.S2(rep);
    if (want("s3")) {
      for (int c : cs) {
        for (qg::WorkerMode m : modes) bench.S3(rep, c, m);
        bench.S3Floor(rep, c);
      }
    }
    if (want("s4")) {
      for (qg::WorkerMode m : modes) bench.S4(rep, m);
    }
  }
  bench.PrintTable();
  return 0;
}
