// qg cancel: cancels a job; a running one only in a qg-cpp worker pool.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "qg/admin.h"
#include "qg/job_end.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"

namespace qg_cli {
namespace {

struct CancelOptions {
  std::string db;
  int64_t id = 0;
  // How long to wait for the pool running the job to acknowledge.
  absl::Duration wait = absl::Milliseconds(1500);
};

absl::StatusOr<CancelOptions> Parse(const std::vector<std::string>& args) {
  CancelOptions o;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.Duration("wait", &o.wait);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  absl::StatusOr<int64_t> id = OneJobId(positional);
  if (!id.ok()) return id.status();
  o.id = *id;
  if (o.wait <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--wait must be positive");
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

// The first SIGINT, SIGTERM or SIGHUP while `qg cancel` waits: the request
// is withdrawn and the command says so (a second one ends it at once).
volatile sig_atomic_t stop_signal = 0;

void OnStopSignal(int sig) {
  if (stop_signal != 0) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  stop_signal = sig;
}

void CatchStopSignals() {
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &action, nullptr);
}

const char* StopSignalName(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "SIGHUP";
  }
}

int Run(const CancelOptions& o) {
  const Command& self = CancelCommand();
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  // From here on a stop signal must not leave a request behind: it is
  // withdrawn before qg cancel exits (a request also expires when --wait
  // ends, and applies only to the run holding the job now, so even a
  // SIGKILL leaves nothing that could cancel a later run).
  CatchStopSignals();
  absl::StatusOr<qg::CancelOutcome> outcome =
      (*admin)->CancelJob(o.id, o.wait, [] { return stop_signal != 0; });
  if (!outcome.ok()) {
    if (absl::IsAborted(outcome.status()) && stop_signal != 0) {
      int sig = stop_signal;
      Fail(self, kExitFailure,
           absl::StrCat(StopSignalName(sig), ": ", outcome.status().message()));
      return 128 + sig;
    }
    return Fail(self, outcome.status());
  }
  long long id = static_cast<long long>(o.id);
  switch (*outcome) {
    case qg::CancelOutcome::kCancelled:
      printf(
          "job %lld cancelled: nobody was running it; it is kept as a dead "
          "job marked \"%s\" (`qg jobs --dead` lists it, `qg retry %lld` "
          "revives it)\n",
          id, qg::kCancelledMarker, id);
      break;
    case qg::CancelOutcome::kStopping:
      printf(
          "job %lld is running in a qg-cpp worker pool: asked its worker to "
          "stop it (Job::Cancelled() is true now); it is recorded as "
          "cancelled when its handler returns an error, never retried\n",
          id);
      break;
  }
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(CancelCommand(), args, Parse, Run);
}

}  // namespace

const Command& CancelCommand() {
  static const Command command{
      "cancel",
      {"qg cancel ID [--wait DURATION] [--db CONNINFO]"},
      "Cancels job ID. A job nobody holds is cancelled at once: kept as a dead "
      "job\nwhose last error starts with \"qg: cancelled\" (`qg jobs --dead` "
      "lists it,\n`qg retry ID` revives it). A job a qg-cpp worker pool runs "
      "is asked to stop\n(its handler sees Job::Cancelled(); `qg work` stops "
      "the job's command) and is\nrecorded as cancelled, never retried. A job "
      "held by a Ruby Que, que-go or qg\nworker cannot be cancelled while it "
      "runs: cancelling a running job holds only\nwhere every worker of the "
      "queue is qg-cpp.\n"
      "  --wait      how long to wait for the worker pool to acknowledge "
      "(default 1.5s)\n" +
          std::string(kDbHelp) +
          "A request to a worker pool applies to the run holding the job "
          "when it is made,\nand only while qg cancel waits: when --wait "
          "ends unacknowledged, or SIGINT,\nSIGTERM or SIGHUP stops qg "
          "cancel, it is withdrawn (a second signal ends qg\ncancel at "
          "once); a request left by a killed qg cancel expires and never\n"
          "cancels a later run of the job.\n"
          "Exit status: 0 cancelled or asked to stop, 1 no such job, a job "
          "that cannot be\ncancelled now, or another failure, 2 a usage "
          "mistake (no ID, not a number),\n128 + the signal (130, 143, 129) "
          "stopped by a signal: nothing cancelled.\n",
      Main};
  return command;
}

}  // namespace qg_cli
