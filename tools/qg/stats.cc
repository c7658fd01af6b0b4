// qg stats: counts per queue and type, and the worker path pools would take.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "qg/admin.h"
#include "qg/admin_json.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/output.h"

namespace qg_cli {
namespace {

struct StatsOptions {
  std::string db;
  bool json = false;
};

absl::StatusOr<StatsOptions> Parse(const std::vector<std::string>& args) {
  StatsOptions o;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.Bool("json", &o.json);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (absl::Status s = NoArguments(positional); !s.ok()) return s;
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

int Run(const StatsOptions& o) {
  const Command& self = StatsCommand();
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  NoteReadOnly(**admin);
  absl::StatusOr<qg::StatsReport> report = (*admin)->Stats();
  if (!report.ok()) return Fail(self, report.status());
  if (o.json) {
    std::vector<JsonObject> items;
    for (const qg::JobStats& s : report->groups) {
      items.push_back(qg::StatsJson(s, report->paused(s.queue)));
    }
    printf("%s\n", JsonArray(items).c_str());
    return kExitOk;
  }
  Table table({"QUEUE", "TYPE", "COUNT", "WORKING", "ERRORED", "MAX_ERRORS",
               "DEAD", "OLDEST_RUN_AT"});
  for (const qg::JobStats& s : report->groups) {
    std::string queue = s.queue.empty() ? "(default)" : Printable(s.queue);
    if (report->paused(s.queue)) absl::StrAppend(&queue, " (paused)");
    table.AddRow({queue, Printable(s.type), absl::StrCat(s.count),
                  absl::StrCat(s.count_working), absl::StrCat(s.count_errored),
                  absl::StrCat(s.highest_error_count),
                  absl::StrCat(s.count_dead), FormatUtc(s.oldest_run_at)});
  }
  table.Print(stdout);
  if (table.empty()) printf("(no jobs)\n");
  if (report->paused_queues.empty()) {
    printf("\npaused queues: none\n");
  } else {
    std::vector<std::string> names;
    for (const std::string& q : report->paused_queues) {
      names.push_back(Printable(q));
    }
    printf(
        "\npaused queues: %s (qg-cpp worker pools lock no new job of them; "
        "`qg resume QUEUE`)\n",
        absl::StrJoin(names, ", ").c_str());
  }
  printf("worker path: %s\n", report->fast_path.reason.c_str());
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(StatsCommand(), args, Parse, Run);
}

}  // namespace

const Command& StatsCommand() {
  static const Command command{
      "stats",
      {"qg stats [--json] [--db CONNINFO]"},
      "Per queue and type: count, working (advisory lock held in this "
      "database now),\nerrored, highest error count, dead (out of attempts), "
      "oldest run_at; a paused\nqueue's rows say \"(paused)\". Then the "
      "paused queues, empty ones included, and\nwhich worker path a worker "
      "pool would take here: fast (qg_lock_jobs() is\ninstalled) or "
      "qg-compatible (it is not: run `qg migrate`).\n"
      "  --json      the counts as a JSON array instead of a table; each "
      "group has\n"
      "              \"paused\": whether its queue is paused (a paused queue "
      "without\n"
      "              jobs has no group: the table lists it)\n" +
          std::string(kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
