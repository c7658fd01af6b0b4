// qg grants: prints (or applies) the GRANTs of the least-privilege roles.
#include "qg/grants.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qg/pg.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"

namespace qg_cli {
namespace {

struct GrantsOptions {
  std::string db;
  bool apply = false;
  qg::GrantRoles roles;
};

absl::StatusOr<GrantsOptions> Parse(const std::vector<std::string>& args) {
  GrantsOptions o;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.Bool("apply", &o.apply);
  flags.String("enqueuer", &o.roles.enqueuer_role);
  flags.String("worker", &o.roles.worker_role);
  flags.String("operator", &o.roles.operator_role);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (absl::Status s = NoArguments(positional); !s.ok()) return s;
  // The names, checked before any connection (a usage mistake): "the
  // worker role: ...".
  if (absl::StatusOr<std::string> sql = qg::GrantsSql(o.roles); !sql.ok()) {
    return sql.status();
  }
  if (!o.apply) {
    if (flags.IsSet("db")) {
      return absl::InvalidArgumentError(
          "--db is for --apply: printing needs no database");
    }
    return o;
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

int Run(const GrantsOptions& o) {
  const Command& self = GrantsCommand();
  if (!o.apply) {
    absl::StatusOr<std::string> sql = qg::GrantsSql(o.roles);
    if (!sql.ok()) return Fail(self, sql.status());
    fputs(sql->c_str(), stdout);
    return kExitOk;
  }
  absl::StatusOr<qg::PgConnPtr> conn = qg::Connect(o.db);
  if (!conn.ok()) return FailConnect(self, conn.status());
  if (absl::Status s = qg::ApplyGrants(conn->get(), o.roles); !s.ok()) {
    return Fail(self, s);
  }
  printf(
      "granted: the enqueuer %s, the worker %s, the operator %s (created "
      "where missing, NOLOGIN)\nmake each login role a member of one, e.g. "
      "GRANT %s TO app_worker;\n",
      o.roles.enqueuer_role.c_str(), o.roles.worker_role.c_str(),
      o.roles.operator_role.c_str(), o.roles.worker_role.c_str());
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(GrantsCommand(), args, Parse, Run);
}

}  // namespace

const Command& GrantsCommand() {
  static const Command command{
      "grants",
      {"qg grants [--db CONNINFO] [--apply] [--enqueuer NAME] [--worker NAME] "
       "[--operator NAME]"},
      "Prints the SQL that creates three NOLOGIN group roles where they are "
      "missing and\ngrants each what one kind of process needs, nothing "
      "more:\n  the enqueuer  adds jobs (plain, unique, workflows, "
      "batches); changes none\n  the worker    runs jobs, and enqueues as "
      "the enqueuer does\n  the operator  operates the queue: the console "
      "and qg's commands\nPrinting needs no database. With --apply, runs it "
      "on the database, all of it\nor nothing; that needs the owner of "
      "qg-cpp's tables (the role that ran `qg\nmigrate`) or a superuser, and "
      "CREATEROLE for missing roles. Grants only: nothing\nis revoked. Then "
      "make each login role a member of one (GRANT qg_worker TO app;).\n\n"
      "  --apply     run the SQL on the database instead of printing it\n"
      "  --enqueuer  the enqueuer's role (default: qg_enqueuer)\n"
      "  --worker    the worker's role (default: qg_worker)\n"
      "  --operator  the operator's role (default: qg_operator)\n" +
          std::string(kDbHelp) + "              (with --apply only)\n",
      Main};
  return command;
}

}  // namespace qg_cli
