// qg demo: typed jobs end to end on an embedded (or given) PostgreSQL.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

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
#include "qg/metrics/http_listen.h"
#include "qg/periodic.h"
#include "qg/typed.h"
#include "qg/worker/worker.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/output.h"

namespace qg_cli {
namespace {

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

int Run(const DemoOptions& o) {
  const Command& self = DemoCommand();
  // SIGINT and SIGTERM: taken by the main thread once threads run (see
  // below); until then (booting PostgreSQL, connecting) they end the demo
  // as usual, and an embedded server stops with it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);

  std::unique_ptr<qg::EmbeddedPostgres> server;
  std::string conninfo = o.db;
  if (!conninfo.empty()) {
    fprintf(stderr, "qg demo: using the database you gave\n");
  } else {
    fprintf(stderr,
            "qg demo: no --db or DATABASE_URL; booting an embedded, "
            "throwaway PostgreSQL...\n");
    absl::StatusOr<std::unique_ptr<qg::EmbeddedPostgres>> s =
        qg::EmbeddedPostgres::Start();
    if (!s.ok()) return Fail(self, s.status());
    server = std::move(*s);
    conninfo = server->conninfo();
    fprintf(stderr, "qg demo: PostgreSQL ready (%s)\n", conninfo.c_str());
  }

  // The jobs runnable at once (neither scheduled nor rolled back): the drain
  // rate is how fast the pool gives each of them its first attempt.
  int64_t runnable = 0;
  for (int i = 1; i <= o.jobs; ++i) runnable += !Scheduled(i) && !RolledBack(i);

  // The handler: fails once for every 10th user, then succeeds.
  std::mutex mu;
  absl::flat_hash_set<int64_t> done_ids;
  std::atomic<int64_t> completed{0}, duplicates{0}, failures{0};
  std::atomic<int64_t> first_attempts{0};
  absl::Time drained_at = absl::InfiniteFuture();  // guarded by mu
  qg::WorkMap work_map;
  work_map.Register<qg::examples::email::WelcomeEmail>(
      [&](qg::Job& job, const qg::examples::email::WelcomeEmail& email) {
        if (job.error_count() == 0 && !Scheduled(email.user_id()) &&
            ++first_attempts == runnable) {
          std::lock_guard<std::mutex> lock(mu);
          drained_at = absl::Now();
        }
        if (email.user_id() % 10 == 0 && job.error_count() == 0) {
          ++failures;
          return absl::UnavailableError("mail server busy (demo: fails once)");
        }
        std::lock_guard<std::mutex> lock(mu);
        if (!done_ids.insert(job.id()).second) ++duplicates;
        ++completed;
        return absl::OkStatus();
      });

  // A periodic job, one per occurrence of `@every 1s` (its args are the
  // occurrence, so a second job for one would show), and a unique job.
  absl::flat_hash_set<int64_t> heartbeat_occurrences;  // guarded by mu
  std::atomic<int64_t> heartbeats{0}, heartbeats_twice{0}, digests{0};
  work_map.Register(kHeartbeat, [&](qg::Job& job) {
    int64_t occurrence = 0;
    absl::string_view args = job.args();
    if (args.size() < 2 ||
        !absl::SimpleAtoi(args.substr(1, args.size() - 2), &occurrence)) {
      return absl::InvalidArgumentError("want [unix seconds]");
    }
    std::lock_guard<std::mutex> lock(mu);
    if (!heartbeat_occurrences.insert(occurrence).second) ++heartbeats_twice;
    ++heartbeats;
    return absl::OkStatus();
  });
  work_map.Register(kDigest, [&](qg::Job&) {
    ++digests;
    return absl::OkStatus();
  });

  qg::ClientOptions options;
  options.conninfo = conninfo;
  options.max_conns = o.workers + 2;
  options.backoff = [](int32_t) { return absl::Seconds(1); };  // fast retry
  ErrorsOnlyLogger quiet;
  options.logger = &quiet;
  absl::StatusOr<std::unique_ptr<qg::Client>> client_or =
      qg::Client::Create(options);
  if (!client_or.ok()) return FailConnect(self, client_or.status());
  std::unique_ptr<qg::Client> client = std::move(*client_or);
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin_or = ConnectAdmin(conninfo);
  if (!admin_or.ok()) return Fail(self, admin_or.status());
  std::unique_ptr<qg::Admin> admin = std::move(*admin_or);
  {
    // Leftovers of an earlier, interrupted demo run on this database.
    absl::StatusOr<qg::BulkResult> r = admin->DeleteJobs({.queue = kDemoQueue});
    if (!r.ok()) return Fail(self, r.status());
  }
  // Periodic and unique jobs need `qg migrate`'s additions (the embedded
  // server has them); without them the demo shows the rest.
  const bool additions = admin->ListPeriodic().ok();

  // The web console, up while the demo runs (and after it, with --console).
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts
  std::unique_ptr<qg::Console> console = StartConsole(o, conninfo);

  // Enqueue: most now, 5% scheduled 2 s ahead, 5% in a transaction that
  // rolls back (never run).
  absl::Time start = absl::Now();
  int scheduled = 0, rolled_back = 0;
  bool interrupted = false;
  std::unique_ptr<PGconn, PGconnCloser> tx_conn(PQconnectdb(conninfo.c_str()));
  if (PQstatus(tx_conn.get()) != CONNECTION_OK) {
    return Fail(
        self, kExitFailure,
        absl::StrCat("cannot connect (", qg::RedactConninfo(conninfo), ")"));
  }
  for (int i = 1; i <= o.jobs && !interrupted; ++i) {
    // SIGINT and SIGTERM are blocked (taken below): look for one now and
    // then while enqueueing, which may take a while.
    if (i % 100 == 0) interrupted = StopSignalPending(signals);
    qg::examples::email::WelcomeEmail email;
    email.set_user_id(i);
    email.set_address(absl::StrCat("user", i, "@example.com"));
    email.set_name(absl::StrCat("User ", i));
    qg::NewJob base;
    base.queue = kDemoQueue;
    if (Scheduled(i)) {
      base.run_at = absl::Now() + absl::Seconds(2);
      ++scheduled;
    }
    absl::StatusOr<qg::NewJob> job = qg::NewTypedJob(email, base);
    if (!job.ok()) return Fail(self, job.status());
    absl::Status s;
    if (RolledBack(i)) {
      absl::StatusOr<std::unique_ptr<qg::PgTx>> tx =
          qg::PgTx::Begin(tx_conn.get());
      if (!tx.ok()) return Fail(self, tx.status());
      s = client->EnqueueInTx(*job, **tx).status();
      if (s.ok()) s = (*tx)->Rollback();
      ++rolled_back;
    } else {
      s = client->Enqueue(*job).status();
    }
    if (!s.ok()) return Fail(self, s);
  }
  absl::Duration enqueue_time = absl::Now() - start;
  if (interrupted) {
    // Stopped while enqueueing: take back what was enqueued, as a stop
    // while working does.
    if (console != nullptr) console->Stop();
    admin->DeleteJobs({.queue = kDemoQueue}).IgnoreError();
    client->Close();
    client.reset();
    admin.reset();
    server.reset();
    fprintf(stderr, "qg demo: interrupted while enqueueing; cleaned up\n");
    return 130;
  }

  // The same unique job twice: the second finds the first and stores nothing.
  std::string unique_line = "skipped (needs `qg migrate`)";
  bool unique_ok = true;
  int64_t digests_expected = 0;
  if (additions) {
    qg::NewJob digest{.type = kDigest,
                      .args = R"(["daily"])",
                      .queue = kDemoQueue,
                      .unique = qg::UniqueOpts{.by_args = true}};
    absl::StatusOr<qg::EnqueueResult> first = client->EnqueueDetailed(digest);
    if (!first.ok()) return Fail(self, first.status());
    absl::StatusOr<qg::EnqueueResult> second = client->EnqueueDetailed(digest);
    if (!second.ok()) return Fail(self, second.status());
    unique_ok =
        !first->duplicate && second->duplicate && second->id == first->id;
    digests_expected = first->duplicate ? 0 : 1;
    unique_line = absl::StrCat(
        "job ", first->id, first->duplicate ? " (duplicate)" : "", ", then ",
        second->duplicate
            ? absl::StrCat("a duplicate of job ", second->id)
            : absl::StrCat("job ", second->id, " (not a duplicate)"));
  }
  int64_t expected = o.jobs - rolled_back;
  fprintf(stderr,
          "qg demo: enqueued %d typed jobs in %.2f s (%d scheduled 2 s ahead, "
          "%d in a transaction that rolled back, every 10th fails once)\n",
          o.jobs, absl::ToDoubleSeconds(enqueue_time), scheduled, rolled_back);

  // Registered while the pool runs (the pool starts and stops it).
  qg::PeriodicEnqueuer periodic(client.get());
  if (additions) {
    absl::Status s = periodic.Register({
        .name = kHeartbeat,
        .schedule = "@every 1s",
        .build = [](absl::Time occurrence) -> absl::StatusOr<qg::NewJob> {
          return qg::NewJob{
              .type = kHeartbeat,
              .args = absl::StrCat("[", absl::ToUnixSeconds(occurrence), "]"),
              .queue = kDemoQueue};
        },
    });
    if (!s.ok()) return Fail(self, s);
  }

  qg::WorkerOptions wopts;
  wopts.interval = absl::Milliseconds(50);
  wopts.queue = kDemoQueue;
  if (additions) wopts.periodic = &periodic;
  qg::WorkerPool pool(client.get(), &work_map, o.workers, wopts);
  absl::Time work_start = absl::Now();
  absl::Status started;
  try {
    started = pool.Start();
  } catch (const std::system_error& e) {
    // Out of threads: the pool is half started and cannot be shut down in
    // order; exit now (an embedded server stops when this process ends).
    Fail(self, kExitFailure,
         absl::StrCat("cannot start ", o.workers,
                      " worker thread(s): ", e.what()));
    fflush(nullptr);
    _exit(kExitFailure);
  }
  if (!started.ok()) return Fail(self, started);
  bool tty = isatty(2);
  absl::Time last_line = absl::InfinitePast();
  absl::Time deadline = absl::Now() + absl::Minutes(5);
  while (true) {
    int64_t n = completed.load();
    double secs = absl::ToDoubleSeconds(absl::Now() - work_start);
    double rate = secs > 0 ? n / secs : 0;
    if (tty) {
      int width = 30;
      int filled = static_cast<int>(width * n / std::max<int64_t>(expected, 1));
      fprintf(stderr, "\r[%s%s] %lld/%lld jobs  %.0f jobs/s  %lld retried   ",
              std::string(filled, '#').c_str(),
              std::string(width - filled, '.').c_str(),
              static_cast<long long>(n), static_cast<long long>(expected), rate,
              static_cast<long long>(failures.load()));
    } else if (absl::Now() - last_line >= absl::Seconds(1) || n >= expected) {
      fprintf(stderr, "qg demo: %lld/%lld jobs done, %.0f jobs/s\n",
              static_cast<long long>(n), static_cast<long long>(expected),
              rate);
      last_line = absl::Now();
    }
    // Done: every e-mail, the unique job, and at least one heartbeat.
    if (n >= expected && digests.load() >= digests_expected &&
        (!additions || heartbeats.load() >= 1)) {
      break;
    }
    if (absl::Now() > deadline) break;
    struct timespec ts = absl::ToTimespec(absl::Milliseconds(100));
    int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      interrupted = true;
      break;
    }
  }
  if (tty) fprintf(stderr, "\n");
  absl::Duration work_time = absl::Now() - work_start;
  pool.Shutdown();
  if (additions) {
    // A heartbeat enqueued as the pool stopped would wait forever, and the
    // schedule's record would be listed by `qg periodic`: remove both.
    absl::StatusOr<qg::BulkResult> left =
        admin->DeleteJobs({.queue = kDemoQueue, .type = kHeartbeat});
    if (!left.ok()) return Fail(self, left.status());
    if (absl::Status s = admin->RemovePeriodic(kHeartbeat);
        !s.ok() && !absl::IsNotFound(s)) {
      return Fail(self, s);
    }
  }
  absl::Duration drain_time = absl::InfiniteDuration();
  {
    std::lock_guard<std::mutex> lock(mu);
    if (drained_at != absl::InfiniteFuture()) {
      drain_time = drained_at - work_start;
    }
  }
  std::string drain_rate =
      drain_time == absl::InfiniteDuration()
          ? std::string("(not drained)")
          : absl::StrCat(WithCommas(static_cast<int64_t>(
                             runnable / std::max(1e-6, absl::ToDoubleSeconds(
                                                           drain_time)))),
                         " jobs/s");

  absl::StatusOr<std::vector<qg::JobStats>> stats = client->Stats();
  printf("\nque_jobs after the run (qg stats):\n");
  if (stats.ok()) {
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
  printf("\nsummary:\n");
  Table summary({"WHAT", "VALUE"});
  summary.AddRow({"jobs enqueued", absl::StrCat(o.jobs)});
  summary.AddRow(
      {"rolled back with their transaction", absl::StrCat(rolled_back)});
  summary.AddRow({"scheduled 2 s ahead", absl::StrCat(scheduled)});
  summary.AddRow({"failed once, then retried", absl::StrCat(failures.load())});
  summary.AddRow(
      {"completed", absl::StrCat(completed.load(), " of ", expected)});
  summary.AddRow({"ran twice", absl::StrCat(duplicates.load())});
  summary.AddRow(
      {"periodic DemoHeartbeat @every 1s",
       additions
           ? absl::StrCat(heartbeats.load(), " job(s), one per occurrence",
                          heartbeats_twice.load() > 0
                              ? absl::StrCat(" (", heartbeats_twice.load(),
                                             " occurrence(s) twice!)")
                              : "")
           : std::string("skipped (needs `qg migrate`)")});
  summary.AddRow({"unique job enqueued twice", unique_line});
  summary.AddRow({"workers", absl::StrCat(o.workers)});
  if (drain_time != absl::InfiniteDuration()) {
    summary.AddRow({"runnable jobs drained",
                    absl::StrFormat(
                        "%lld in %.3f s (%s)", static_cast<long long>(runnable),
                        absl::ToDoubleSeconds(drain_time), drain_rate)});
    summary.AddRow({"then waited for scheduled, retries",
                    absl::StrFormat("%.2f s", absl::ToDoubleSeconds(
                                                  work_time - drain_time))});
  }
  summary.AddRow({"work time",
                  absl::StrFormat("%.2f s", absl::ToDoubleSeconds(work_time))});
  summary.Print(stdout);
  if (drain_time != absl::InfiniteDuration()) {
    printf(
        "\ndrained %lld runnable jobs in %.3f s (%s); then waited %.1f s for "
        "the %d scheduled 2 s ahead and the %lld retries (1 s backoff)\n",
        static_cast<long long>(runnable), absl::ToDoubleSeconds(drain_time),
        drain_rate.c_str(), absl::ToDoubleSeconds(work_time - drain_time),
        scheduled, static_cast<long long>(failures.load()));
  }
  if (o.console && console != nullptr && !interrupted) {
    printf(
        "\nqg demo: the console stays up at %s; Ctrl-C (or SIGTERM) ends the "
        "demo\n",
        console->url().c_str());
    fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
  }
  if (console != nullptr) console->Stop();
  client->Close();
  client.reset();
  admin.reset();
  server.reset();  // stops the embedded PostgreSQL and removes its data
  if (interrupted) {
    fprintf(stderr, "qg demo: interrupted; cleaned up\n");
    return 130;
  }
  if (completed.load() < expected || duplicates.load() > 0) {
    return Fail(self, kExitFailure, "not every job completed exactly once");
  }
  if (additions && (heartbeats.load() < 1 || heartbeats_twice.load() > 0 ||
                    !unique_ok || digests.load() != digests_expected)) {
    return Fail(self, kExitFailure,
                "the periodic or the unique job did not behave as expected");
  }
  return kExitOk;
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
