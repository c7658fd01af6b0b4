// qg demo: typed jobs end to end on an embedded (or given) PostgreSQL.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/email/email.pb.h"
#include "libpq-fe.h"
#include "qg/admin.h"
#include "qg/client.h"
#include "qg/conninfo.h"
#include "qg/console/console.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/executor.h"
#include "qg/internal/sync.h"
#include "qg/metrics/http_listen.h"
#include "qg/periodic.h"
#include "qg/typed.h"
#include "qg/worker/worker.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/output.h"

namespace qg_cli {
namespace {

using qg::examples::email::WelcomeEmail;
using qg::internal::Mutex;
using qg::internal::MutexLock;

// The demo works a queue of its own, so that on a real database (--db) it
// never takes, fails or deletes anyone else's jobs.
constexpr char kDemoQueue[] = "qg-demo";

// The most jobs the demo enqueues (one INSERT each).
constexpr int kMaxJobs = 1000000;

// The demo's periodic schedule (its name and its job's type) and its unique
// job's type.
constexpr char kHeartbeat[] = "DemoHeartbeat";
constexpr char kDigest[] = "DemoDigest";

struct DemoOptions {
  std::string db;  // empty: boot an embedded PostgreSQL
  int jobs = 2000;
  int workers = 4;
  // Where the web console listens while the demo runs.
  std::string listen = "127.0.0.1:8080";
  // Keep the console (and the embedded PostgreSQL) up after the run, until
  // SIGINT or SIGTERM.
  bool console = false;
};

absl::StatusOr<DemoOptions> Parse(const std::vector<std::string>& args) {
  DemoOptions o;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.Int("jobs", &o.jobs);
  flags.Int("workers", &o.workers);
  flags.String("listen", &o.listen);
  flags.Bool("console", &o.console);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (absl::Status s = NoArguments(positional); !s.ok()) return s;
  if (o.jobs < 1 || o.jobs > kMaxJobs) {
    return absl::InvalidArgumentError(
        absl::StrCat("--jobs must be from 1 to ", kMaxJobs, ", not ", o.jobs));
  }
  if (o.workers < 1 || o.workers > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--workers must be from 1 to ", kMaxWorkers, ", not ", o.workers));
  }
  if (absl::StatusOr<qg::ListenAddress> address =
          qg::ParseListenAddress(o.listen);
      !address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: ", address.status().message()));
  }
  o.db = qg::ResolveConninfo(o.db).value_or("");
  return o;
}

// Which of the demo's users get a job scheduled 2 s ahead, and which get one
// enqueued in a transaction that rolls back (never stored).
bool Scheduled(int64_t user) { return user % 20 == 7; }
bool RolledBack(int64_t user) { return user % 20 == 13; }

// 47000 → "47,000".
std::string WithCommas(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

// The demo's planned failures are expected: log only errors.
class ErrorsOnlyLogger : public qg::Logger {
 public:
  void Log(qg::LogLevel level, absl::string_view message) override {
    if (level == qg::LogLevel::kError) qg::DefaultLogger().Log(level, message);
  }
};

// Whether SIGINT or SIGTERM (blocked in this process) is pending; takes it.
bool StopSignalPending(const sigset_t& signals) {
  struct timespec zero = {0, 0};
  int sig = sigtimedwait(&signals, nullptr, &zero);
  return sig == SIGINT || sig == SIGTERM;
}

struct PGconnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};

// Starts the console on `o.listen`, or on a free port when that one is
// taken; null (with a line on stderr) when it cannot start at all.
std::unique_ptr<qg::Console> StartConsole(const DemoOptions& o,
                                          const std::string& conninfo) {
  qg::ConsoleOptions options;
  options.conninfo = conninfo;
  options.listen = o.listen;
  options.refresh = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<qg::Console>> console =
      qg::Console::Start(options);
  if (!console.ok() &&
      console.status().code() == absl::StatusCode::kUnavailable) {
    absl::StatusOr<qg::ListenAddress> address =
        qg::ParseListenAddress(o.listen);
    if (address.ok()) {
      address->port = 0;
      options.listen = address->ToString();
      console = qg::Console::Start(options);
    }
  }
  if (!console.ok()) {
    fprintf(stderr, "qg demo: no console: %s\n",
            std::string(console.status().message()).c_str());
    return nullptr;
  }
  fprintf(stderr, "qg demo: console at %s\n", (*console)->url().c_str());
  return std::move(*console);
}

// The jobs of `jobs` runnable at once (neither scheduled nor rolled back):
// the drain rate is how fast the pool gives each of them its first attempt.
int64_t RunnableJobs(int jobs) {
  int64_t runnable = 0;
  for (int i = 1; i <= jobs; ++i) runnable += !Scheduled(i) && !RolledBack(i);
  return runnable;
}

// User `user`'s welcome e-mail: due now, or 2 s ahead when `Scheduled`.
absl::StatusOr<qg::NewJob> WelcomeJob(int user) {
  WelcomeEmail email;
  email.set_user_id(user);
  email.set_address(absl::StrCat("user", user, "@example.com"));
  email.set_name(absl::StrCat("User ", user));
  qg::NewJob base;
  base.queue = kDemoQueue;
  if (Scheduled(user)) base.run_at = absl::Now() + absl::Seconds(2);
  return qg::NewTypedJob(email, base);
}

// Enqueues `job` in a transaction on `tx_conn` that rolls back: it is never
// stored.
absl::Status EnqueueRolledBack(qg::Client& client, PGconn* tx_conn,
                               const qg::NewJob& job) {
  absl::StatusOr<std::unique_ptr<qg::PgTx>> tx = qg::PgTx::Begin(tx_conn);
  if (!tx.ok()) return tx.status();
  absl::Status s = client.EnqueueInTx(job, **tx).status();
  if (s.ok()) s = (*tx)->Rollback();
  return s;
}

// The demo's periodic schedule: DemoHeartbeat `@every 1s`, one job per
// occurrence, its args the occurrence (so that a second job for one would
// show).
absl::Status RegisterHeartbeat(qg::PeriodicEnqueuer& periodic) {
  return periodic.Register({
      .name = kHeartbeat,
      .schedule = "@every 1s",
      .build = [](absl::Time occurrence) -> absl::StatusOr<qg::NewJob> {
        return qg::NewJob{
            .type = kHeartbeat,
            .args = absl::StrCat("[", absl::ToUnixSeconds(occurrence), "]"),
            .queue = kDemoQueue};
      },
  });
}

// A heartbeat enqueued as the pool stopped would wait forever, and the
// schedule's record would be listed by `qg periodic`: removes both.
absl::Status RemoveHeartbeat(qg::Admin& admin) {
  absl::StatusOr<qg::BulkResult> left =
      admin.DeleteJobs({.queue = kDemoQueue, .type = kHeartbeat});
  if (!left.ok()) return left.status();
  if (absl::Status s = admin.RemovePeriodic(kHeartbeat);
      !s.ok() && !absl::IsNotFound(s)) {
    return s;
  }
  return absl::OkStatus();
}

// Starts `pool` of `workers` threads. Out of threads, the pool is half
// started and cannot be shut down in order: the demo exits at once then
// (an embedded server stops when this process ends).
absl::Status StartPool(qg::WorkerPool& pool, int workers) {
  try {
    return pool.Start();
  } catch (const std::system_error& e) {
    Fail(DemoCommand(), kExitFailure,
         absl::StrCat("cannot start ", workers,
                      " worker thread(s): ", e.what()));
    fflush(nullptr);
    _exit(kExitFailure);
  }
}

// DemoTally
//
// What the demo's handlers did: counted on the pool's threads, read by the
// main thread. Thread-safe.
class DemoTally {
 public:
  // `runnable`: the jobs runnable at once (`RunnableJobs`), whose first
  // attempts make the drain rate.
  explicit DemoTally(int64_t runnable) : runnable_(runnable) {}

  // The WelcomeEmail handler: fails once for every 10th user, then
  // succeeds.
  absl::Status Welcome(const qg::Job& job, const WelcomeEmail& email)
      ABSL_LOCKS_EXCLUDED(mu_) {
    if (job.error_count() == 0 && !Scheduled(email.user_id()) &&
        ++first_attempts_ == runnable_) {
      MutexLock lock(mu_);
      drained_at_ = absl::Now();
    }
    if (email.user_id() % 10 == 0 && job.error_count() == 0) {
      ++failures_;
      return absl::UnavailableError("mail server busy (demo: fails once)");
    }
    MutexLock lock(mu_);
    if (!done_ids_.insert(job.id()).second) ++duplicates_;
    ++completed_;
    return absl::OkStatus();
  }

  // The DemoHeartbeat handler: counts the occurrence its args name
  // ("[unix seconds]"), and an occurrence run twice.
  absl::Status Heartbeat(const qg::Job& job) ABSL_LOCKS_EXCLUDED(mu_) {
    int64_t occurrence = 0;
    absl::string_view args = job.args();
    if (args.size() < 2 ||
        !absl::SimpleAtoi(args.substr(1, args.size() - 2), &occurrence)) {
      return absl::InvalidArgumentError("want [unix seconds]");
    }
    MutexLock lock(mu_);
    if (!heartbeat_occurrences_.insert(occurrence).second) ++heartbeats_twice_;
    ++heartbeats_;
    return absl::OkStatus();
  }

  // The unique job's (DemoDigest) handler.
  absl::Status Digest() {
    ++digests_;
    return absl::OkStatus();
  }

  // How long after `work_start` every runnable job had had its first
  // attempt; infinite while some have not.
  absl::Duration DrainTime(absl::Time work_start) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    if (drained_at_ == absl::InfiniteFuture()) return absl::InfiniteDuration();
    return drained_at_ - work_start;
  }

  int64_t runnable() const { return runnable_; }
  // E-mail jobs that succeeded (one that ran twice counts twice).
  int64_t completed() const { return completed_.load(); }
  // E-mail jobs that succeeded a second time.
  int64_t duplicates() const { return duplicates_.load(); }
  // Planned failures (first attempts of every 10th user).
  int64_t failures() const { return failures_.load(); }
  int64_t heartbeats() const { return heartbeats_.load(); }
  // Heartbeat occurrences that ran more than once.
  int64_t heartbeats_twice() const { return heartbeats_twice_.load(); }
  int64_t digests() const { return digests_.load(); }

 private:
  const int64_t runnable_;
  std::atomic<int64_t> first_attempts_{0};
  std::atomic<int64_t> completed_{0}, duplicates_{0}, failures_{0};
  std::atomic<int64_t> heartbeats_{0}, heartbeats_twice_{0}, digests_{0};
  mutable Mutex mu_;
  absl::flat_hash_set<int64_t> done_ids_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<int64_t> heartbeat_occurrences_ ABSL_GUARDED_BY(mu_);
  absl::Time drained_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

// Demo
//
// One run of the demo, its steps in the order `Run()` takes them: the
// database, the client and admin on it, the console, the enqueued jobs, the
// pool's work, the report, the teardown and the verdict.
class Demo {
 public:
  explicit Demo(const DemoOptions& o) : o_(o), tally_(RunnableJobs(o.jobs)) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
  }
  Demo(const Demo&) = delete;
  Demo& operator=(const Demo&) = delete;

  // Runs the demo; returns the exit code.
  int Run() {
    RegisterHandlers();
    if (absl::Status s = OpenDatabase(); !s.ok()) return Fail(self_, s);
    if (absl::Status s = ConnectClient(); !s.ok()) {
      return FailConnect(self_, s);
    }
    if (absl::Status s = PrepareQueue(); !s.ok()) return Fail(self_, s);
    // Blocked before any thread starts: the main thread alone takes them.
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    // The web console, up while the demo runs (and after it, with
    // --console).
    console_ = StartConsole(o_, conninfo_);
    if (absl::Status s = EnqueueEmails(); !s.ok()) return Fail(self_, s);
    if (interrupted_) return TakeBackAndStop();
    if (absl::Status s = EnqueueUniqueTwice(); !s.ok()) return Fail(self_, s);
    fprintf(stderr,
            "qg demo: enqueued %d typed jobs in %.2f s (%d scheduled 2 s "
            "ahead, %d in a transaction that rolled back, every 10th fails "
            "once)\n",
            o_.jobs, absl::ToDoubleSeconds(enqueue_time_), scheduled_,
            rolled_back_);
    if (absl::Status s = Work(); !s.ok()) return Fail(self_, s);
    PrintStats();
    PrintSummary();
    PrintDrained();
    if (o_.console && console_ != nullptr && !interrupted_) StayUp();
    TearDown();
    return Verdict();
  }

 private:
  // The handlers of the demo's job types, counting into `tally_`.
  void RegisterHandlers() {
    work_map_.Register<WelcomeEmail>(
        [this](qg::Job& job, const WelcomeEmail& email) {
          return tally_.Welcome(job, email);
        });
    work_map_.Register(kHeartbeat,
                       [this](qg::Job& job) { return tally_.Heartbeat(job); });
    work_map_.Register(kDigest, [this](qg::Job&) { return tally_.Digest(); });
  }

  // The database you gave (--db or DATABASE_URL), else an embedded,
  // throwaway PostgreSQL. SIGINT and SIGTERM still end the demo as usual
  // here (they are blocked only once threads run), and an embedded server
  // stops with it.
  absl::Status OpenDatabase() {
    conninfo_ = o_.db;
    if (!conninfo_.empty()) {
      fprintf(stderr, "qg demo: using the database you gave\n");
      return absl::OkStatus();
    }
    fprintf(stderr,
            "qg demo: no --db or DATABASE_URL; booting an embedded, "
            "throwaway PostgreSQL...\n");
    absl::StatusOr<std::unique_ptr<qg::EmbeddedPostgres>> server =
        qg::EmbeddedPostgres::Start();
    if (!server.ok()) return server.status();
    server_ = std::move(*server);
    conninfo_ = server_->conninfo();
    fprintf(stderr, "qg demo: PostgreSQL ready (%s)\n", conninfo_.c_str());
    return absl::OkStatus();
  }

  // The client the pool works with: a connection per worker and two more,
  // a fast retry (1 s backoff), only errors logged.
  absl::Status ConnectClient() {
    qg::ClientOptions options;
    options.conninfo = conninfo_;
    options.max_conns = o_.workers + 2;
    options.backoff = [](int32_t) { return absl::Seconds(1); };  // fast retry
    options.logger = &quiet_;
    absl::StatusOr<std::unique_ptr<qg::Client>> client =
        qg::Client::Create(options);
    if (!client.ok()) return client.status();
    client_ = std::move(*client);
    return absl::OkStatus();
  }

  // The admin, the demo's queue emptied, and whether the database has the
  // additions.
  absl::Status PrepareQueue() {
    absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(conninfo_);
    if (!admin.ok()) return admin.status();
    admin_ = std::move(*admin);
    // Leftovers of an earlier, interrupted demo run on this database.
    absl::StatusOr<qg::BulkResult> r =
        admin_->DeleteJobs({.queue = kDemoQueue});
    if (!r.ok()) return r.status();
    // Periodic and unique jobs need `qg migrate`'s additions (the embedded
    // server has them); without them the demo shows the rest.
    additions_ = admin_->ListPeriodic().ok();
    return absl::OkStatus();
  }

  // Enqueues --jobs welcome e-mails: most now, 5% scheduled 2 s ahead, 5%
  // in a transaction that rolls back (never run). Stops early, setting
  // `interrupted_`, on SIGINT or SIGTERM.
  absl::Status EnqueueEmails() {
    absl::Time start = absl::Now();
    std::unique_ptr<PGconn, PGconnCloser> tx_conn(
        PQconnectdb(conninfo_.c_str()));
    if (PQstatus(tx_conn.get()) != CONNECTION_OK) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect (", qg::RedactConninfo(conninfo_), ")"));
    }
    for (int i = 1; i <= o_.jobs && !interrupted_; ++i) {
      // SIGINT and SIGTERM are blocked (taken in WaitForJobs): look for one
      // now and then while enqueueing, which may take a while.
      if (i % 100 == 0) interrupted_ = StopSignalPending(signals_);
      absl::StatusOr<qg::NewJob> job = WelcomeJob(i);
      if (!job.ok()) return job.status();
      scheduled_ += Scheduled(i);
      absl::Status s;
      if (RolledBack(i)) {
        s = EnqueueRolledBack(*client_, tx_conn.get(), *job);
        ++rolled_back_;
      } else {
        s = client_->Enqueue(*job).status();
      }
      if (!s.ok()) return s;
    }
    enqueue_time_ = absl::Now() - start;
    return absl::OkStatus();
  }

  // Stopped while enqueueing: takes back what was enqueued, as a stop while
  // working does, and cleans up. The exit code.
  int TakeBackAndStop() {
    if (console_ != nullptr) console_->Stop();
    admin_->DeleteJobs({.queue = kDemoQueue}).IgnoreError();
    TearDown();
    fprintf(stderr, "qg demo: interrupted while enqueueing; cleaned up\n");
    return 130;
  }

  // With the additions, the same unique job twice: the second finds the
  // first and stores nothing.
  absl::Status EnqueueUniqueTwice() {
    if (!additions_) return absl::OkStatus();
    qg::NewJob digest{.type = kDigest,
                      .args = R"(["daily"])",
                      .queue = kDemoQueue,
                      .unique = qg::UniqueOpts{.by_args = true}};
    absl::StatusOr<qg::EnqueueResult> first = client_->EnqueueDetailed(digest);
    if (!first.ok()) return first.status();
    absl::StatusOr<qg::EnqueueResult> second = client_->EnqueueDetailed(digest);
    if (!second.ok()) return second.status();
    unique_ok_ =
        !first->duplicate && second->duplicate && second->id == first->id;
    digests_expected_ = first->duplicate ? 0 : 1;
    unique_line_ = absl::StrCat(
        "job ", first->id, first->duplicate ? " (duplicate)" : "", ", then ",
        second->duplicate
            ? absl::StrCat("a duplicate of job ", second->id)
            : absl::StrCat("job ", second->id, " (not a duplicate)"));
    return absl::OkStatus();
  }

  // Works the queue with --workers threads (and, with the additions, the
  // heartbeat's schedule) until the jobs are done or a stop signal comes;
  // then shuts the pool down and removes the heartbeat's leftovers.
  absl::Status Work() {
    // Registered while the pool runs (the pool starts and stops it).
    qg::PeriodicEnqueuer periodic(client_.get());
    if (additions_) {
      if (absl::Status s = RegisterHeartbeat(periodic); !s.ok()) return s;
    }
    qg::WorkerOptions wopts;
    wopts.interval = absl::Milliseconds(50);
    wopts.queue = kDemoQueue;
    if (additions_) wopts.periodic = &periodic;
    qg::WorkerPool pool(client_.get(), &work_map_, o_.workers, wopts);
    absl::Time work_start = absl::Now();
    if (absl::Status s = StartPool(pool, o_.workers); !s.ok()) return s;
    interrupted_ = WaitForJobs(work_start);
    work_time_ = absl::Now() - work_start;
    pool.Shutdown();
    if (additions_) {
      if (absl::Status s = RemoveHeartbeat(*admin_); !s.ok()) return s;
    }
    drain_time_ = tally_.DrainTime(work_start);
    return absl::OkStatus();
  }

  // The e-mails that must complete: all but the rolled back ones.
  int64_t expected() const { return o_.jobs - rolled_back_; }

  // Whether the jobs are done, `completed` e-mails among them: every
  // e-mail, the unique job, and (with the additions) at least one
  // heartbeat.
  bool AllDone(int64_t completed) const {
    return completed >= expected() && tally_.digests() >= digests_expected_ &&
           (!additions_ || tally_.heartbeats() >= 1);
  }

  // Waits until `AllDone`, 5 minutes at most, showing the progress on
  // stderr. Whether SIGINT or SIGTERM interrupted the wait.
  bool WaitForJobs(absl::Time work_start) {
    const bool tty = isatty(2);
    absl::Time last_line = absl::InfinitePast();
    absl::Time deadline = absl::Now() + absl::Minutes(5);
    bool interrupted = false;
    while (true) {
      // One count for the progress and the check, so that the last line
      // shown is the one the wait ended on.
      int64_t n = tally_.completed();
      double rate = Rate(n, work_start);
      if (tty) {
        ShowBar(n, rate);
      } else if (absl::Now() - last_line >= absl::Seconds(1) ||
                 n >= expected()) {
        fprintf(stderr, "qg demo: %lld/%lld jobs done, %.0f jobs/s\n",
                static_cast<long long>(n), static_cast<long long>(expected()),
                rate);
        last_line = absl::Now();
      }
      if (AllDone(n) || absl::Now() > deadline) break;
      struct timespec ts = absl::ToTimespec(absl::Milliseconds(100));
      int sig = sigtimedwait(&signals_, nullptr, &ts);
      if (sig == SIGINT || sig == SIGTERM) {
        interrupted = true;
        break;
      }
    }
    if (tty) fprintf(stderr, "\n");
    return interrupted;
  }

  // Jobs per second since `work_start`, `n` done.
  static double Rate(int64_t n, absl::Time work_start) {
    double secs = absl::ToDoubleSeconds(absl::Now() - work_start);
    return secs > 0 ? n / secs : 0;
  }

  // The progress bar on a terminal, redrawn in place: `n` e-mails done at
  // `rate` jobs/s.
  void ShowBar(int64_t n, double rate) const {
    int width = 30;
    int filled = static_cast<int>(width * n / std::max<int64_t>(expected(), 1));
    fprintf(stderr, "\r[%s%s] %lld/%lld jobs  %.0f jobs/s  %lld retried   ",
            std::string(filled, '#').c_str(),
            std::string(width - filled, '.').c_str(), static_cast<long long>(n),
            static_cast<long long>(expected()), rate,
            static_cast<long long>(tally_.failures()));
  }

  bool drained() const { return drain_time_ != absl::InfiniteDuration(); }

  // "2,609 jobs/s": the runnable jobs over the drain time.
  std::string DrainRate() const {
    if (!drained()) return "(not drained)";
    return absl::StrCat(
        WithCommas(static_cast<int64_t>(
            tally_.runnable() /
            std::max(1e-6, absl::ToDoubleSeconds(drain_time_)))),
        " jobs/s");
  }

  // que_jobs after the run, as `qg stats` shows it.
  void PrintStats() {
    absl::StatusOr<std::vector<qg::JobStats>> stats = client_->Stats();
    printf("\nque_jobs after the run (qg stats):\n");
    if (!stats.ok()) return;
    Table table({"QUEUE", "TYPE", "COUNT", "WORKING", "ERRORED", "MAX_ERRORS"});
    for (const qg::JobStats& s : *stats) {
      table.AddRow({s.queue.empty() ? "(default)" : s.queue, s.type,
                    absl::StrCat(s.count), absl::StrCat(s.count_working),
                    absl::StrCat(s.count_errored),
                    absl::StrCat(s.highest_error_count)});
    }
    table.Print(stdout);
    if (table.empty()) printf("(no jobs left)\n");
  }

  // The summary row of the periodic job.
  std::string HeartbeatSummary() const {
    if (!additions_) return "skipped (needs `qg migrate`)";
    int64_t twice = tally_.heartbeats_twice();
    return absl::StrCat(
        tally_.heartbeats(), " job(s), one per occurrence",
        twice > 0 ? absl::StrCat(" (", twice, " occurrence(s) twice!)") : "");
  }

  // What was enqueued and what ran, as a table.
  void PrintSummary() const {
    printf("\nsummary:\n");
    Table summary({"WHAT", "VALUE"});
    summary.AddRow({"jobs enqueued", absl::StrCat(o_.jobs)});
    summary.AddRow(
        {"rolled back with their transaction", absl::StrCat(rolled_back_)});
    summary.AddRow({"scheduled 2 s ahead", absl::StrCat(scheduled_)});
    summary.AddRow(
        {"failed once, then retried", absl::StrCat(tally_.failures())});
    summary.AddRow(
        {"completed", absl::StrCat(tally_.completed(), " of ", expected())});
    summary.AddRow({"ran twice", absl::StrCat(tally_.duplicates())});
    summary.AddRow({"periodic DemoHeartbeat @every 1s", HeartbeatSummary()});
    summary.AddRow({"unique job enqueued twice", unique_line_});
    summary.AddRow({"workers", absl::StrCat(o_.workers)});
    if (drained()) {
      summary.AddRow(
          {"runnable jobs drained",
           absl::StrFormat("%lld in %.3f s (%s)",
                           static_cast<long long>(tally_.runnable()),
                           absl::ToDoubleSeconds(drain_time_), DrainRate())});
      summary.AddRow(
          {"then waited for scheduled, retries",
           absl::StrFormat("%.2f s",
                           absl::ToDoubleSeconds(work_time_ - drain_time_))});
    }
    summary.AddRow(
        {"work time",
         absl::StrFormat("%.2f s", absl::ToDoubleSeconds(work_time_))});
    summary.Print(stdout);
  }

  // The drain rate in a sentence, when the runnable jobs drained.
  void PrintDrained() const {
    if (!drained()) return;
    printf(
        "\ndrained %lld runnable jobs in %.3f s (%s); then waited %.1f s for "
        "the %d scheduled 2 s ahead and the %lld retries (1 s backoff)\n",
        static_cast<long long>(tally_.runnable()),
        absl::ToDoubleSeconds(drain_time_), DrainRate().c_str(),
        absl::ToDoubleSeconds(work_time_ - drain_time_), scheduled_,
        static_cast<long long>(tally_.failures()));
  }

  // --console: keeps the console (and the database) up until SIGINT or
  // SIGTERM.
  void StayUp() {
    printf(
        "\nqg demo: the console stays up at %s; Ctrl-C (or SIGTERM) ends the "
        "demo\n",
        console_->url().c_str());
    fflush(stdout);
    int sig = 0;
    sigwait(&signals_, &sig);
  }

  // Stops the console, closes the client and the admin, and stops an
  // embedded PostgreSQL (removing its data).
  void TearDown() {
    if (console_ != nullptr) console_->Stop();
    client_->Close();
    client_.reset();
    admin_.reset();
    server_.reset();
  }

  // The exit code: 130 when interrupted, 1 when a job did not run as
  // planned.
  int Verdict() const {
    if (interrupted_) {
      fprintf(stderr, "qg demo: interrupted; cleaned up\n");
      return 130;
    }
    if (tally_.completed() < expected() || tally_.duplicates() > 0) {
      return Fail(self_, kExitFailure, "not every job completed exactly once");
    }
    if (additions_ &&
        (tally_.heartbeats() < 1 || tally_.heartbeats_twice() > 0 ||
         !unique_ok_ || tally_.digests() != digests_expected_)) {
      return Fail(self_, kExitFailure,
                  "the periodic or the unique job did not behave as expected");
    }
    return kExitOk;
  }

  const DemoOptions& o_;
  const Command& self_ = DemoCommand();
  // SIGINT and SIGTERM: blocked once threads run, then taken by the main
  // thread.
  sigset_t signals_;
  DemoTally tally_;
  qg::WorkMap work_map_;
  // An embedded PostgreSQL (null with --db), and the database's conninfo.
  std::unique_ptr<qg::EmbeddedPostgres> server_;
  std::string conninfo_;
  ErrorsOnlyLogger quiet_;  // the client's logger
  std::unique_ptr<qg::Client> client_;
  std::unique_ptr<qg::Admin> admin_;
  // Whether the database has `qg migrate`'s additions.
  bool additions_ = false;
  std::unique_ptr<qg::Console> console_;  // null when it could not start
  // EnqueueEmails: what was enqueued, how long it took, and whether a stop
  // signal came (then, or in WaitForJobs).
  int scheduled_ = 0;
  int rolled_back_ = 0;
  absl::Duration enqueue_time_;
  bool interrupted_ = false;
  // EnqueueUniqueTwice: the summary's row, whether the second enqueue
  // found the first, and the DemoDigest runs to wait for.
  std::string unique_line_ = "skipped (needs `qg migrate`)";
  bool unique_ok_ = true;
  int64_t digests_expected_ = 0;
  // Work: how long the pool worked, and until the runnable jobs drained
  // (infinite: they did not).
  absl::Duration work_time_;
  absl::Duration drain_time_ = absl::InfiniteDuration();
};

int Run(const DemoOptions& o) {
  Demo demo(o);
  return demo.Run();
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(DemoCommand(), args, Parse, Run);
}

}  // namespace

const Command& DemoCommand() {
  static const Command command{
      "demo",
      {"qg demo [--jobs N] [--workers N] [--listen HOST:PORT] [--console] "
       "[--db CONNINFO]"},
      "Enqueues N typed protobuf jobs (some scheduled 2 s ahead, some in a "
      "transaction\nthat rolls back, some failing once), works them with a "
      "worker pool, and prints\nthe stats and the drain rate of the jobs "
      "runnable at once (apart from the wait\nfor the scheduled ones and the "
      "retries). Alongside, a periodic job\n(DemoHeartbeat, `@every 1s`, "
      "registered through WorkerOptions::periodic) runs\nonce per "
      "occurrence, and a unique job enqueued twice is stored once. Without\n"
      "--db or DATABASE_URL it boots an embedded, throwaway PostgreSQL and "
      "removes it\nafterwards. Works its own queue (qg-demo) only.\n"
      "  --jobs      jobs to enqueue, 1..1000000 (default 2000)\n"
      "  --workers   worker threads, 1..1000 (default 4)\n"
      "  --listen    where the web console listens while the demo runs "
      "(default\n"
      "              127.0.0.1:8080, or a free port when that one is taken)\n"
      "  --console   keep the console up after the run, until Ctrl-C or "
      "SIGTERM\n" +
          std::string(kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
