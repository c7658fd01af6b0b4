// qg work: works jobs by running a shell command per job.
#include <signal.h>

#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "qg/client.h"
#include "qg/worker/worker.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/shell_runner.h"

namespace qg_cli {
namespace {

struct WorkOptions {
  std::string db;
  std::optional<std::string> queue;
  int workers = 4;
  absl::Duration interval = absl::Milliseconds(200);
  // TYPE → shell command.
  std::vector<std::pair<std::string, std::string>> handlers;
};

absl::StatusOr<WorkOptions> Parse(const std::vector<std::string>& args) {
  WorkOptions o;
  std::vector<std::string> handlers;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.OptionalString("queue", &o.queue);
  flags.Int("workers", &o.workers);
  flags.Duration("interval", &o.interval);
  flags.Repeated("handler", &handlers);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (!positional.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", positional[0], "\""));
  }
  if (handlers.empty()) {
    return absl::InvalidArgumentError(
        "give at least one --handler TYPE=COMMAND");
  }
  for (const std::string& h : handlers) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(h, absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--handler \"", h, "\" is not TYPE=COMMAND"));
    }
    o.handlers.push_back(std::move(kv));
  }
  if (o.workers < 1) {
    return absl::InvalidArgumentError("--workers must be at least 1");
  }
  if (o.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--interval must be positive, not ", absl::FormatDuration(o.interval),
        " (idle workers would poll without pause)"));
  }
  absl::StatusOr<std::string> db = ResolveDb(o.db);
  if (!db.ok()) return db.status();
  o.db = *db;
  return o;
}

// Blocks SIGINT/SIGTERM in this thread and every thread started after; they
// are taken with `WaitStopSignal`.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Waits up to `timeout` for SIGINT/SIGTERM; true if one arrived.
bool WaitStopSignal(const sigset_t& set, absl::Duration timeout) {
  struct timespec ts = absl::ToTimespec(timeout);
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig == SIGINT || sig == SIGTERM;
}

int Run(const WorkOptions& o) {
  const Command& self = WorkCommand();
  qg::WorkMap work_map;
  for (const auto& [type, command] : o.handlers) {
    work_map.Register(type, [command = command](qg::Job& job) {
      return RunShellCommand(
          {.command = command,
           .input = job.args(),
           .env = {absl::StrCat("QG_JOB_ID=", job.id()),
                   absl::StrCat("QG_JOB_TYPE=", job.type()),
                   absl::StrCat("QG_JOB_QUEUE=", job.queue()),
                   absl::StrCat("QG_JOB_ERROR_COUNT=", job.error_count())}});
    });
  }
  sigset_t signals = BlockStopSignals();
  // A handler that exits without reading its stdin closes the pipe under
  // the runner's write: that must be EPIPE ("stdin closed", the write is
  // done), not a SIGPIPE that kills qg work. Children restore SIG_DFL.
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<std::unique_ptr<qg::Client>> client =
      qg::Client::Create({.conninfo = o.db, .max_conns = o.workers + 1});
  if (!client.ok()) return FailConnect(self, client.status());
  qg::WorkerOptions options;
  if (o.queue.has_value()) options.queue = *o.queue;
  options.interval = o.interval;
  qg::WorkerPool pool(client->get(), &work_map, o.workers, options);
  if (absl::Status s = pool.Start(); !s.ok()) {
    // InvalidArgument: options the parser let through (WorkerOptions::
    // Validate is the authority): a usage mistake all the same.
    return Fail(self,
                s.code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                               : kExitFailure,
                s.message());
  }
  fprintf(stderr,
          "qg work: %d worker(s) on queue \"%s\" for %zu type(s); Ctrl-C to "
          "stop\n",
          o.workers, options.queue.c_str(), o.handlers.size());
  while (!WaitStopSignal(signals, absl::Hours(1))) {
  }
  fprintf(stderr, "qg work: stopping; waiting for running jobs to finish\n");
  pool.Shutdown();
  fprintf(stderr, "qg work: stopped\n");
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  absl::StatusOr<WorkOptions> o = Parse(args);
  if (!o.ok()) return UsageError(WorkCommand(), o.status().message());
  return Run(*o);
}

}  // namespace

const Command& WorkCommand() {
  static const Command command{
      "work",
      {"qg work --handler TYPE=COMMAND ... [--queue Q] [--workers N] "
       "[--interval SECONDS] [--db CONNINFO]"},
      "Works jobs by running a shell command per job, the job's args JSON on "
      "its stdin\n(and QG_JOB_ID, QG_JOB_TYPE, QG_JOB_QUEUE, "
      "QG_JOB_ERROR_COUNT in its environment).\nExit 0 is success; anything "
      "else fails the job with the command's last stderr\nlines and retries "
      "it with backoff. Ctrl-C stops after the running jobs finish.\n" +
          std::string(kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
