// qg retry: makes a job, or every errored or dead job, runnable now; never
// a job a worker holds.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qg/admin.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"

namespace qg_cli {
namespace {

struct RetryOptions {
  std::string db;
  std::optional<int64_t> id;
  // Without an id: the jobs to retry (errored or dead, maybe of one queue
  // or type).
  qg::JobFilter filter;
};

absl::StatusOr<RetryOptions> Parse(const std::vector<std::string>& args) {
  RetryOptions o;
  bool all_errored = false, all_dead = false;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.Bool("all-errored", &all_errored);
  flags.Bool("all-dead", &all_dead);
  flags.OptionalString("queue", &o.filter.queue);
  flags.OptionalString("type", &o.filter.type);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  bool all = all_errored || all_dead;
  if (all_errored && all_dead) {
    return absl::InvalidArgumentError(
        "give --all-errored or --all-dead, not both");
  }
  if (all && !positional.empty()) {
    return absl::InvalidArgumentError(
        "give a job ID or --all-errored/--all-dead, not both");
  }
  if (!all) {
    if (o.filter.queue.has_value() || o.filter.type.has_value()) {
      return absl::InvalidArgumentError(
          "--queue and --type go with --all-errored or --all-dead");
    }
    absl::StatusOr<int64_t> id = OneJobId(positional);
    if (!id.ok()) return id.status();
    o.id = *id;
  }
  if (absl::Status s = CheckFilter(o.filter); !s.ok()) return s;
  o.filter.state = all_dead ? qg::JobState::kDead : qg::JobState::kErrored;
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

int Run(const RetryOptions& o) {
  const Command& self = RetryCommand();
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  if (o.id.has_value()) {
    absl::StatusOr<qg::RetriedJob> r = (*admin)->RetryJobDetailed(*o.id);
    if (!r.ok()) return Fail(self, r.status());
    long long id = static_cast<long long>(*o.id);
    if (r->was_cancelled) {
      printf(
          "job %lld was cancelled by an operator: revived, it will run now "
          "with its attempts back\n",
          id);
    } else if (r->was_dead) {
      printf("job %lld was dead: it will run now with its attempts back\n", id);
    } else {
      printf("job %lld will run now\n", id);
    }
    return kExitOk;
  }
  absl::StatusOr<qg::BulkResult> r = (*admin)->RetryJobs(o.filter);
  if (!r.ok()) return Fail(self, r.status());
  printf("%lld job(s) will run now\n", static_cast<long long>(r->changed));
  if (r->skipped_held > 0) {
    printf(
        "%lld job(s) skipped: held by a worker right now (running, or locked "
        "ahead); run this again when they are done\n",
        static_cast<long long>(r->skipped_held));
  }
  if (r->skipped_cancelled > 0) {
    printf(
        "%lld cancelled job(s) left alone: an operator cancelled them, they "
        "are not dead; `qg retry ID` revives one\n",
        static_cast<long long>(r->skipped_cancelled));
  }
  if (r->skipped_moved > 0) {
    printf(
        "%lld job(s) skipped: finished or rescheduled by a worker "
        "meanwhile\n",
        static_cast<long long>(r->skipped_moved));
  }
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(RetryCommand(), args, Parse, Run);
}

}  // namespace

const Command& RetryCommand() {
  static const Command command{
      "retry",
      {"qg retry ID [--db CONNINFO]",
       "qg retry --all-errored | --all-dead [--queue Q] [--type T] "
       "[--db CONNINFO]"},
      "Makes a job runnable now; a dead job (out of attempts) also gets its "
      "attempts back.\nA job a worker holds (running, or locked ahead by a "
      "worker pool) is never\nrewritten under it: `qg retry ID` refuses it "
      "(exit 1), the --all forms skip and\ncount it. A job an operator "
      "cancelled (`qg cancel`) is not a dead job: the --all\nforms leave it "
      "and count it; `qg retry ID` revives it, saying it was cancelled.\n"
      "  --all-errored  every job that has failed (dead ones included)\n"
      "  --all-dead     every job out of attempts\n"
      "  --queue, --type  only jobs of this queue / type (with --all-...)\n" +
          std::string(kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
