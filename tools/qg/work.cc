// qg work: works jobs by running a shell command per job.
//
// Stopping: the main thread takes SIGINT/SIGTERM with sigtimedwait (they are
// blocked in every thread; handlers start with a clean mask in their own
// process groups, see shell_runner.h). The first signal stops taking jobs and
// gives running handlers `--grace`; past it the pool cancels them
// (Job::Cancelled()), the runner SIGTERMs their groups and SIGKILLs them a few
// seconds later, and the jobs are released untouched. A second signal forces
// the stop: every handler's group is killed at once and its job released.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libpq-fe.h"
#include "qg/admin.h"
#include "qg/client.h"
#include "qg/internal/sync.h"
#include "qg/metrics/metrics_server.h"
#include "qg/metrics/worker_metrics.h"
#include "qg/worker/worker.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/output.h"
#include "tools/qg/shell_runner.h"

namespace qg_cli {
namespace {

using qg::internal::CondVar;
using qg::internal::Mutex;
using qg::internal::MutexLock;

// After a forced stop, how long qg work waits for the pool to hand its jobs
// back before it exits anyway (its sessions close and release the locks).
constexpr absl::Duration kForcedStopLimit = absl::Seconds(10);

// The exit status of --until-empty when the jobs left cannot run because
// the queue is paused.
constexpr int kExitPaused = 3;

// The shortest --interval: idle workers poll no more often than this.
constexpr absl::Duration kMinInterval = absl::Milliseconds(1);

struct WorkOptions {
  std::string db;
  std::optional<std::string> queue;
  int workers = 4;
  // WorkerOptions::sessions: lanes of the fast pool; 0: automatic.
  int sessions = 1;
  absl::Duration interval = absl::Milliseconds(200);
  // TYPE → shell command.
  std::vector<std::pair<std::string, std::string>> handlers;
  // After the first stop signal, how long running handlers may go on.
  absl::Duration grace = absl::Seconds(20);
  // How long one job may run; infinite: no limit.
  absl::Duration timeout = absl::InfiniteDuration();
  // After SIGTERM to a handler's group, how long before SIGKILL.
  absl::Duration kill_after = absl::Seconds(3);
  // Stop once the queue has no runnable job and no handler runs.
  bool until_empty = false;
  // Stop after this long; infinite: run until a signal.
  absl::Duration duration = absl::InfiniteDuration();
  // Where to serve Prometheus metrics (GET /metrics); empty: nowhere.
  std::string metrics_listen;
};

// Adds each --handler TYPE=COMMAND of `flags` to `handlers`: a type given
// once, as text PostgreSQL stores (it is a job_class); the command goes to
// the shell as it is.
absl::Status ParseHandlers(
    const std::vector<std::string>& flags,
    std::vector<std::pair<std::string, std::string>>& handlers) {
  if (flags.empty()) {
    return absl::InvalidArgumentError(
        "give at least one --handler TYPE=COMMAND");
  }
  for (const std::string& h : flags) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(h, absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--handler \"", Printable(h), "\" is not TYPE=COMMAND"));
    }
    if (absl::Status s = CheckText("--handler", kv.first); !s.ok()) return s;
    for (const auto& [type, command] : handlers) {
      if (type == kv.first) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--handler: two commands for type ", JsonString(type)));
      }
    }
    handlers.push_back(std::move(kv));
  }
  return absl::OkStatus();
}

absl::StatusOr<WorkOptions> Parse(const std::vector<std::string>& args) {
  WorkOptions o;
  std::vector<std::string> handlers;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.OptionalString("queue", &o.queue);
  flags.Int("workers", &o.workers);
  flags.Int("sessions", &o.sessions);
  flags.Duration("interval", &o.interval);
  flags.Repeated("handler", &handlers);
  flags.Duration("grace", &o.grace);
  flags.Duration("timeout", &o.timeout);
  flags.Bool("until-empty", &o.until_empty);
  flags.Duration("duration", &o.duration);
  flags.String("metrics-listen", &o.metrics_listen);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (absl::Status s = NoArguments(positional); !s.ok()) return s;
  if (absl::Status s = ParseHandlers(handlers, o.handlers); !s.ok()) return s;
  if (o.queue.has_value()) {
    if (absl::Status s = CheckText("--queue", *o.queue); !s.ok()) return s;
  }
  if (o.workers < 1 || o.workers > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--workers must be from 1 to ", kMaxWorkers, ", not ", o.workers));
  }
  if (o.sessions < 0 || o.sessions > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--sessions must be from 0 (automatic) to 64, not ", o.sessions));
  }
  if (o.interval < kMinInterval) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--interval must be at least ", absl::FormatDuration(kMinInterval),
        ", not ", absl::FormatDuration(o.interval),
        " (idle workers would poll without pause)"));
  }
  if (o.grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--grace must not be negative");
  }
  if (o.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--timeout must be positive");
  }
  if (o.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--duration must be positive");
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

// The stop signals, blocked in this thread and every thread started after,
// and taken with `NextStopSignal`.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Waits up to `timeout` for SIGINT/SIGTERM: the signal, or 0.
int NextStopSignal(const sigset_t& set, absl::Duration timeout) {
  struct timespec ts = absl::ToTimespec(timeout);
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig == SIGINT || sig == SIGTERM ? sig : 0;
}

const char* SignalName(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

// `s` as one word of a shell command: as it is when that is safe, else
// quoted.
std::string ShellWord(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) {
    plain = plain && (absl::ascii_isalnum(c) || c == '_' || c == '-' ||
                      c == '.' || c == '/' || c == ':');
  }
  return plain ? s : ShellQuote(s);
}

// Counts a running handler for as long as it lives.
class RunningJob {
 public:
  explicit RunningJob(std::atomic<int>& running) : running_(running) {
    ++running_;
  }
  ~RunningJob() { --running_; }

 private:
  std::atomic<int>& running_;
};

// Why qg work stops (before any signal): --until-empty or --duration.
// `Reason()` returns "" while it should go on.
class StopCondition {
 public:
  StopCondition(const WorkOptions& o, std::string queue,
                std::unique_ptr<qg::Admin> admin, std::atomic<int>& running)
      : until_empty_(o.until_empty),
        end_(o.duration == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                    : absl::Now() + o.duration),
        duration_(o.duration),
        queue_(std::move(queue)),
        admin_(std::move(admin)),
        running_(running) {}

  // How long the main loop may wait for a signal before asking again.
  absl::Duration NextCheck() const {
    absl::Duration wait =
        until_empty_ ? absl::Milliseconds(200) : absl::Hours(1);
    return std::max(absl::ZeroDuration(), std::min(wait, end_ - absl::Now()));
  }

  std::string Reason() {
    if (absl::Now() >= end_) {
      return absl::StrCat("ran for --duration ",
                          absl::FormatDuration(duration_));
    }
    if (!until_empty_ || running_.load() > 0) return "";
    // A job a handler runs, or a pool has locked ahead, still has its row
    // (due): the queue is empty once no due row is left and nothing runs.
    absl::StatusOr<qg::JobPage> page = admin_->ListJobs(
        {.queue = queue_, .state = qg::JobState::kRunnable}, {.limit = 1});
    if (!page.ok()) {
      fprintf(stderr, "qg work: --until-empty cannot look at the queue: %s\n",
              std::string(page.status().message()).c_str());
      return "";
    }
    if (running_.load() > 0) return "";
    if (page->jobs.empty()) {
      return "the queue has no runnable job and no handler runs "
             "(--until-empty)";
    }
    // Runnable jobs are left: they run, unless the queue is paused (then
    // no pool of ours takes them, and waiting would never end).
    absl::StatusOr<std::vector<std::string>> paused = admin_->PausedQueues();
    if (!paused.ok() ||
        std::find(paused->begin(), paused->end(), queue_) == paused->end()) {
      return "";
    }
    paused_ = true;
    return absl::StrCat(
        "the queue ", JsonString(queue_),
        " is paused and runnable jobs are left that no handler runs while it "
        "is (--until-empty; exit status ",
        kExitPaused, "; `qg resume ", ShellWord(queue_), "` lets them run)");
  }

  // Whether `Reason()` stopped because the queue is paused.
  bool paused() const { return paused_; }

 private:
  const bool until_empty_;
  const absl::Time end_;
  const absl::Duration duration_;
  const std::string queue_;
  std::unique_ptr<qg::Admin> admin_;
  std::atomic<int>& running_;
  bool paused_ = false;
};

// Runs pool.Shutdown(grace) on a thread of its own, so that the main thread
// keeps taking signals meanwhile.
class BackgroundShutdown {
 public:
  BackgroundShutdown(qg::WorkerPool& pool, absl::Duration grace)
      : thread_([this, &pool, grace] {
          pool.Shutdown(grace);
          MutexLock lock(mu_);
          done_ = true;
          cv_.SignalAll();
        }) {}
  ~BackgroundShutdown() {
    if (thread_.joinable()) thread_.join();
  }
  // True once the pool has shut down; waits at most `timeout`.
  bool Wait(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    return cv_.WaitUntil(lock, absl::Now() + timeout, [this] {
      mu_.AssertHeld();
      return done_;
    });
  }
  // Leaves the thread behind (the process is about to exit).
  void Abandon() { thread_.detach(); }

 private:
  Mutex mu_;
  CondVar cv_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// CheckConnections()
//
// On the qg-compatible path (no qg_lock_jobs(): `qg migrate` was not run)
// every busy worker holds a connection of its own: `InvalidArgument` when
// `workers` of them, with the pool's others, are more than the server
// accepts at all. On the fast path a pool needs a few connections whatever
// `workers` is. OK when the server cannot be asked (Client::Create reports
// that).
absl::Status CheckConnections(const std::string& db, int workers) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(db.c_str()),
                                                    &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) return absl::OkStatus();
  std::unique_ptr<PGresult, decltype(&PQclear)> r(
      PQexec(conn.get(),
             "SELECT current_setting('max_connections')::int - CASE WHEN "
             "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
             "THEN 0 ELSE current_setting('superuser_reserved_connections')"
             "::int END, EXISTS (SELECT 1 FROM pg_proc WHERE proname = "
             "'qg_lock_jobs')"),
      &PQclear);
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
    return absl::OkStatus();
  }
  int allowed = 0;
  if (!absl::SimpleAtoi(PQgetvalue(r.get(), 0, 0), &allowed) ||
      std::string(PQgetvalue(r.get(), 0, 1)) == "t") {
    return absl::OkStatus();
  }
  // The workers', the client's spare, the control listener's and the
  // --until-empty check's.
  int needed = workers + 3;
  if (needed <= allowed) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--workers ", workers, " needs up to ", needed,
      " connections on the qg-compatible path (one per busy worker; "
      "qg_lock_jobs() is missing: `qg migrate` adds it, and the fast path "
      "needs a few connections only), but the server accepts at most ",
      allowed, ": give fewer --workers"));
}

// What the main thread and the handlers share.
struct HandlerState {
  // Set by a second stop signal: every running handler is killed at once.
  std::atomic<bool> force{false};
  // Handlers running now (for --until-empty).
  std::atomic<int> running{0};
};

// RunShellHandler()
//
// Works `job` with `command` (the job's args on its stdin, its id, type,
// queue and error count in its environment). Its process group is stopped
// gracefully once the job is cancelled (--timeout, or the shutdown's grace
// period is over), at once when `state.force` is set.
absl::Status RunShellHandler(const WorkOptions& o, const std::string& command,
                             HandlerState& state, qg::Job& job) {
  RunningJob counted(state.running);
  ShellOptions shell;
  shell.kill_after = o.kill_after;
  shell.should_stop = [&] {
    if (state.force.load()) return ShellStop::kNow;
    // Timed out (--timeout), or the shutdown's grace period is over.
    if (job.Cancelled()) return ShellStop::kGracefully;
    return ShellStop::kNo;
  };
  absl::Status s = RunShellCommand(
      {.command = command,
       .input = job.args(),
       .env = {absl::StrCat("QG_JOB_ID=", job.id()),
               absl::StrCat("QG_JOB_TYPE=", job.type()),
               absl::StrCat("QG_JOB_QUEUE=", job.queue()),
               absl::StrCat("QG_JOB_ERROR_COUNT=", job.error_count())}},
      shell);
  // Killed by a forced stop: not the job's failure. As a shutdown
  // cancellation, the pool releases it untouched for another worker.
  if (!s.ok() && state.force.load()) {
    job.Cancel(qg::Job::CancelReason::kShutdown);
  }
  return s;
}

// Registers a shell handler (`RunShellHandler`) in `work_map` for each
// --handler, with --timeout.
void RegisterHandlers(const WorkOptions& o, HandlerState& state,
                      qg::WorkMap& work_map) {
  for (const auto& [type, command] : o.handlers) {
    work_map.Register(type, [&o, &state, command = command](qg::Job& job) {
      return RunShellHandler(o, command, state, job);
    });
    if (o.timeout != absl::InfiniteDuration()) {
      work_map.SetTimeout(type, o.timeout);
    }
  }
}

// With --metrics-listen, serves `metrics` there and makes it the pool's
// observer in `options`; null without.
absl::StatusOr<std::unique_ptr<qg::MetricsServer>> ServeMetrics(
    const WorkOptions& o, qg::WorkerMetrics& metrics,
    qg::WorkerOptions& options) {
  if (o.metrics_listen.empty()) return nullptr;
  options.observer = &metrics;
  absl::StatusOr<std::unique_ptr<qg::MetricsServer>> server =
      qg::MetricsServer::Start({.listen = o.metrics_listen},
                               [&metrics] { return metrics.Text(); });
  if (!server.ok()) return server.status();
  fprintf(stderr, "qg work: metrics at %s\n", (*server)->url().c_str());
  return server;
}

// The exit status of a step that failed with `s`: a usage mistake for
// `InvalidArgument`, else a failure.
int FailureCode(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                        : kExitFailure;
}

// Starts `pool` of `workers` threads. Out of threads (ulimit -u, memory): a
// resource, not the input. The pool is half started and cannot be shut
// down in order: qg work exits at once then (the sessions close with the
// process and release whatever they hold).
absl::Status StartPool(qg::WorkerPool& pool, int workers) {
  try {
    return pool.Start();
  } catch (const std::system_error& e) {
    Fail(WorkCommand(), kExitFailure,
         absl::StrCat("cannot start ", workers, " worker thread(s): ", e.what(),
                      " (too many processes or threads for this user?)"));
    fflush(nullptr);
    _exit(kExitFailure);
  }
}

// What the pool works, and how to stop it.
void PrintStarted(const WorkOptions& o, const qg::WorkerPool& pool,
                  const std::string& queue) {
  fprintf(stderr,
          "qg work: %d worker(s) on queue \"%s\" for %zu type(s); worker "
          "path: %s\nqg work: SIGINT (Ctrl-C) or SIGTERM stops taking jobs "
          "and lets running ones finish (--grace %s); a second signal stops "
          "at once\n",
          o.workers, queue.c_str(), o.handlers.size(),
          pool.mode_reason().c_str(), absl::FormatDuration(o.grace).c_str());
}

// A paused queue: says so now (the pool takes none of its jobs).
void SayIfPaused(qg::Admin& admin, const std::string& queue, bool until_empty) {
  absl::StatusOr<std::vector<std::string>> paused = admin.PausedQueues();
  if (!paused.ok() ||
      std::find(paused->begin(), paused->end(), queue) == paused->end()) {
    return;
  }
  fprintf(stderr,
          "qg work: queue %s is paused: no job of it is taken until `qg "
          "resume %s`%s\n",
          JsonString(queue).c_str(), ShellWord(queue).c_str(),
          until_empty ? " (--until-empty ends when the jobs left cannot "
                        "run because of the pause)"
                      : "");
}

// Waits for a stop signal or for `stop`'s reason; says why it stops.
std::string WaitForStop(const sigset_t& signals, StopCondition& stop) {
  std::string why;
  while (why.empty()) {
    if (int sig = NextStopSignal(signals, stop.NextCheck()); sig) {
      why = SignalName(sig);
    } else {
      why = stop.Reason();
    }
  }
  return why;
}

// ShutDown()
//
// Shuts `pool` down with --grace while taking signals: a second stop
// signal sets `state.force` (running handlers are killed at once, their
// jobs released); when the pool has not stopped within kForcedStopLimit of
// that, exits the process. Returns the forcing signal, or 0.
int ShutDown(qg::WorkerPool& pool, const WorkOptions& o,
             const sigset_t& signals, HandlerState& state) {
  int forced = 0;
  BackgroundShutdown shutdown(pool, o.grace);
  while (!shutdown.Wait(absl::Milliseconds(50))) {
    if (forced != 0) {
      if (!shutdown.Wait(kForcedStopLimit)) {
        fprintf(stderr,
                "qg work: the pool did not stop within %s of the forced "
                "stop; exiting (closing the sessions releases the jobs)\n",
                absl::FormatDuration(kForcedStopLimit).c_str());
        shutdown.Abandon();
        fflush(stderr);
        _exit(128 + forced);
      }
      break;
    }
    if (int sig = NextStopSignal(signals, absl::Milliseconds(50)); sig) {
      forced = sig;
      state.force = true;
      fprintf(stderr,
              "qg work: %s again: killing running handlers and releasing "
              "their jobs\n",
              SignalName(sig));
    }
  }
  return forced;
}

// The exit status once stopped, said on stderr.
int Stopped(int forced, bool paused) {
  if (forced != 0) {
    fprintf(stderr, "qg work: stopped (forced)\n");
    return 128 + forced;
  }
  if (paused) {
    fprintf(stderr,
            "qg work: stopped; the queue is paused, runnable jobs are left\n");
    return kExitPaused;
  }
  fprintf(stderr, "qg work: stopped\n");
  return kExitOk;
}

int Run(const WorkOptions& o) {
  const Command& self = WorkCommand();
  HandlerState state;
  qg::WorkMap work_map;
  RegisterHandlers(o, state, work_map);
  // A handler that exits without reading its stdin closes the pipe under
  // the runner's write: that must be EPIPE ("stdin closed", the write is
  // done), not a SIGPIPE that kills qg work. Handlers get SIG_DFL back.
  signal(SIGPIPE, SIG_IGN);
  // Connecting may take long (an unreachable server): SIGINT and SIGTERM
  // end qg work as usual until then (nothing runs yet).
  absl::StatusOr<std::unique_ptr<qg::Client>> client =
      qg::Client::Create({.conninfo = o.db, .max_conns = o.workers + 1});
  if (!client.ok()) return FailConnect(self, client.status());
  if (absl::Status s = CheckConnections(o.db, o.workers); !s.ok()) {
    return UsageError(self, s.message());
  }
  // Blocked before any thread starts, so that every thread inherits it and
  // the main thread alone takes them.
  sigset_t signals = BlockStopSignals();
  qg::WorkerOptions options;
  if (o.queue.has_value()) options.queue = *o.queue;
  options.interval = o.interval;
  options.sessions = o.sessions;
  qg::WorkerMetrics metrics;
  absl::StatusOr<std::unique_ptr<qg::MetricsServer>> metrics_server =
      ServeMetrics(o, metrics, options);
  if (!metrics_server.ok()) {
    return Fail(
        self, FailureCode(metrics_server.status()),
        absl::StrCat("--metrics-listen: ", metrics_server.status().message()));
  }
  qg::WorkerPool pool(client->get(), &work_map, o.workers, options);
  // InvalidArgument: options the parser let through (WorkerOptions::
  // Validate is the authority): a usage mistake all the same.
  if (absl::Status s = StartPool(pool, o.workers); !s.ok()) {
    return Fail(self, FailureCode(s), s.message());
  }
  PrintStarted(o, pool, options.queue);
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  SayIfPaused(**admin, options.queue, o.until_empty);
  StopCondition stop(o, options.queue, std::move(*admin), state.running);
  std::string why = WaitForStop(signals, stop);
  fprintf(stderr,
          "qg work: %s: stopping; running jobs may finish within %s, then "
          "their handlers get SIGTERM (SIGKILL %s later) and the jobs are "
          "released; SIGINT or SIGTERM to stop at once\n",
          why.c_str(), absl::FormatDuration(o.grace).c_str(),
          absl::FormatDuration(o.kill_after).c_str());
  int forced = ShutDown(pool, o, signals, state);
  (*client)->Close();
  return Stopped(forced, stop.paused());
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(WorkCommand(), args, Parse, Run);
}

}  // namespace

const Command& WorkCommand() {
  static const Command command{
      "work",
      {"qg work --handler TYPE=COMMAND ... [--queue Q] [--workers N] "
       "[--sessions N] [--interval DURATION] [--grace DURATION] [--timeout "
       "DURATION] "
       "[--until-empty] [--duration DURATION] [--metrics-listen HOST:PORT] "
       "[--db CONNINFO]"},
      "Works jobs by running a shell command per job, the job's args JSON on "
      "its stdin\n(and QG_JOB_ID, QG_JOB_TYPE, QG_JOB_QUEUE, "
      "QG_JOB_ERROR_COUNT in its environment).\nExit 0 is success; anything "
      "else fails the job with the command's last stderr\nlines and retries "
      "it with backoff. Each command runs in a process group of its own\nwith "
      "a clean signal mask; when it exits, whatever it left running in its "
      "group is\nkilled.\n"
      "  --handler   TYPE=COMMAND, once per job type (at least one)\n"
      "  --queue     the queue to work (default: $QUE_QUEUE, else \"\")\n"
      "  --workers   handlers running at once, 1..1000 (default 4)\n"
      "  --sessions  lanes of the pool, 1..64, each 3 connections (locker, "
      "writer,\n"
      "              sweeper); 0: one per 4 workers, at most 4, at most 2 "
      "with a\n"
      "              server on this machine of fewer than 12 cores "
      "(default 1)\n"
      "  --interval  how often idle workers look for jobs (default 0.2s; "
      "at least 1ms)\n"
      "  --grace     after a stop signal, how long running handlers may "
      "finish (default 20s)\n"
      "  --timeout   the longest a job may run: its handler's group gets "
      "SIGTERM (then\n"
      "              SIGKILL) and the job fails \"job timed out after ...\" "
      "and retries\n"
      "              with backoff (default: no limit)\n"
      "  --until-empty  stop once the queue has no runnable job and no "
      "handler runs\n"
      "              (jobs scheduled later, or failed and waiting for their "
      "retry, do\n"
      "              not count); on a paused queue (`qg pause`), once no "
      "handler runs\n"
      "              and the runnable jobs left cannot run because of the "
      "pause (exit 3)\n"
      "  --duration  stop after this long (default: run until a signal)\n"
      "  --metrics-listen HOST:PORT  serve Prometheus metrics at "
      "http://HOST:PORT/metrics\n"
      "              (qg_jobs_completed_total, qg_job_run_seconds, ...; "
      "default: none)\n" +
          std::string(kDbHelp) +
          "\nStopping: SIGINT (Ctrl-C) or SIGTERM stops taking jobs and lets "
          "running ones\nfinish; past --grace their handlers' groups get "
          "SIGTERM, SIGKILL 3s later, and\ntheir jobs are released untouched "
          "for another worker. A second SIGINT or\nSIGTERM stops at once: "
          "handlers are killed, their jobs released.\n"
          "\nExit status: 0 stopped cleanly (after a signal, --until-empty or "
          "--duration:\nevery job finished or was released); 1 a failure "
          "(e.g. the database cannot\nbe reached); 2 a usage mistake; 3 "
          "--until-empty ended on a paused queue with\nrunnable jobs left; "
          "130 or 143 (128 + the signal) stopped at once by a second\nSIGINT "
          "or SIGTERM.\n",
      Main};
  return command;
}

}  // namespace qg_cli
