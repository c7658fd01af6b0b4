// qg migrate: creates the que_jobs schema (idempotent).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qg/admin.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"

namespace qg_cli {
namespace {

struct MigrateOptions {
  std::string db;
};

absl::StatusOr<MigrateOptions> Parse(const std::vector<std::string>& args) {
  MigrateOptions o;
  FlagParser flags;
  flags.String("db", &o.db);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (absl::Status s = NoArguments(positional); !s.ok()) return s;
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

int Run(const MigrateOptions& o) {
  const Command& self = MigrateCommand();
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  absl::StatusOr<qg::MigrateResult> r = (*admin)->Migrate();
  if (!r.ok()) return Fail(self, r.status());
  printf(
      "que_jobs is at schema version %d%s, with qg-cpp's lock function and "
      "NOTIFY trigger\n",
      r->schema_version, r->created ? " (created)" : " (already there)");
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(MigrateCommand(), args, Parse, Run);
}

}  // namespace

const Command& MigrateCommand() {
  static const Command command{
      "migrate",
      {"qg migrate [--db CONNINFO]"},
      "Creates the que_jobs table (Ruby Que 0.x schema version 3) if it is "
      "missing, and\nqg-cpp's additive lock function and NOTIFY trigger "
      "(peers keep working).\nIdempotent; concurrent runs are serialized. "
      "Refuses a que_jobs table of another\nQue version.\n\n" +
          std::string(kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
