// qg delete: deletes a job, or every dead job; never a job a worker holds.
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

struct DeleteOptions {
  std::string db;
  std::optional<int64_t> id;
  qg::JobFilter filter;  // without an id: the dead jobs (of a queue/type)
};

absl::StatusOr<DeleteOptions> Parse(const std::vector<std::string>& args) {
  DeleteOptions o;
  bool all_dead = false;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.Bool("all-dead", &all_dead);
  flags.OptionalString("queue", &o.filter.queue);
  flags.OptionalString("type", &o.filter.type);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (absl::Status s = CheckFilter(o.filter); !s.ok()) return s;
  if (all_dead) {
    if (!positional.empty()) {
      return absl::InvalidArgumentError(
          "give a job ID or --all-dead, not both");
    }
    o.filter.state = qg::JobState::kDead;
  } else {
    if (o.filter.queue.has_value() || o.filter.type.has_value()) {
      return absl::InvalidArgumentError(
          "--queue and --type go with --all-dead");
    }
    absl::StatusOr<int64_t> id = OneJobId(positional);
    if (!id.ok()) return id.status();
    o.id = *id;
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

int Run(const DeleteOptions& o) {
  const Command& self = DeleteCommand();
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  if (o.id.has_value()) {
    if (absl::Status s = (*admin)->DeleteJob(*o.id); !s.ok()) {
      return Fail(self, s);
    }
    printf("deleted job %lld\n", static_cast<long long>(*o.id));
    return kExitOk;
  }
  absl::StatusOr<qg::BulkResult> r = (*admin)->DeleteJobs(o.filter);
  if (!r.ok()) return Fail(self, r.status());
  printf("deleted %lld dead or cancelled job(s)\n",
         static_cast<long long>(r->changed));
  if (r->skipped_held + r->skipped_moved > 0) {
    printf("%lld job(s) skipped: held or changed by a worker meanwhile\n",
           static_cast<long long>(r->skipped_held + r->skipped_moved));
  }
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(DeleteCommand(), args, Parse, Run);
}

}  // namespace

const Command& DeleteCommand() {
  static const Command command{
      "delete",
      {"qg delete ID [--db CONNINFO]",
       "qg delete --all-dead [--queue Q] [--type T] [--db CONNINFO]"},
      "Deletes a job; refuses while a worker holds it (running, or locked "
      "ahead by a\nworker pool). --all-dead deletes every job out of attempts "
      "and every job an\noperator cancelled (of one queue or type), skipping "
      "held ones.\n" +
          std::string(kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
