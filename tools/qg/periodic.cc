// qg periodic: lists the periodic schedules recorded in the database, or
// removes one's record.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "qg/admin.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/output.h"

namespace qg_cli {
namespace {

struct PeriodicOptions {
  std::string db;
  bool json = false;
  std::optional<std::string> remove;  // a schedule's name
};

absl::StatusOr<PeriodicOptions> Parse(const std::vector<std::string>& args) {
  PeriodicOptions o;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.Bool("json", &o.json);
  flags.OptionalString("remove", &o.remove);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (absl::Status s = NoArguments(positional); !s.ok()) return s;
  if (o.remove.has_value()) {
    if (o.remove->empty()) {
      return absl::InvalidArgumentError("--remove needs a schedule's name");
    }
    if (absl::Status s = CheckText("--remove", *o.remove); !s.ok()) return s;
    if (o.json) {
      return absl::InvalidArgumentError("--json goes with the listing");
    }
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

// "30 2 * * * (Europe/Berlin)"; an interval has no zone to show.
std::string ScheduleText(const qg::PeriodicInfo& p) {
  if (absl::StartsWith(p.schedule, "@every")) return Printable(p.schedule);
  return absl::StrCat(Printable(p.schedule), " (", Printable(p.time_zone), ")");
}

std::string TimeOrDash(const std::optional<absl::Time>& t) {
  return t.has_value() ? FormatUtc(*t) : "-";
}

int Remove(const PeriodicOptions& o, qg::Admin& admin) {
  const Command& self = PeriodicCommand();
  if (absl::Status s = admin.RemovePeriodic(*o.remove); !s.ok()) {
    return Fail(self, s);
  }
  printf(
      "removed the record of periodic schedule %s (its jobs stay; a process "
      "that still registers it starts a new record with its next "
      "occurrence)\n",
      JsonString(*o.remove).c_str());
  return kExitOk;
}

int Run(const PeriodicOptions& o) {
  const Command& self = PeriodicCommand();
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  if (o.remove.has_value()) return Remove(o, **admin);
  absl::StatusOr<std::vector<qg::PeriodicInfo>> list = (*admin)->ListPeriodic();
  if (!list.ok()) return Fail(self, list.status());
  if (o.json) {
    std::vector<JsonObject> items;
    for (const qg::PeriodicInfo& p : *list) {
      JsonObject j;
      j.String("name", p.name)
          .String("schedule", p.schedule)
          .String("time_zone", p.time_zone);
      j.OptionalTime("last_occurrence", p.last_occurrence)
          .OptionalTime("next_occurrence", p.next_occurrence)
          .Bool("registered", p.registered)
          .OptionalTime("seen_at", p.seen_at)
          .OptionalInt("last_job_id", p.last_job_id);
      items.push_back(std::move(j));
    }
    printf("%s\n", JsonArray(items).c_str());
    return kExitOk;
  }
  Table table({"NAME", "SCHEDULE", "LAST_OCCURRENCE", "NEXT_OCCURRENCE",
               "REGISTERED", "LAST_JOB"});
  for (const qg::PeriodicInfo& p : *list) {
    table.AddRow(
        {Printable(p.name), ScheduleText(p), TimeOrDash(p.last_occurrence),
         TimeOrDash(p.next_occurrence), p.registered ? "yes" : "no",
         p.last_job_id.has_value() ? absl::StrCat(*p.last_job_id) : "-"});
  }
  table.Print(stdout);
  if (table.empty()) printf("(no periodic schedules)\n");
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(PeriodicCommand(), args, Parse, Run);
}

}  // namespace

const Command& PeriodicCommand() {
  static const Command command{
      "periodic",
      {"qg periodic [--json] [--db CONNINFO]",
       "qg periodic --remove NAME [--db CONNINFO]"},
      "Lists the periodic schedules recorded in the database (qg_periodic), "
      "by name:\nthe schedule and its time zone, the latest occurrence "
      "handled, the next one,\nwhether a running process registered it in "
      "the last 5 minutes (REGISTERED no:\nnobody enqueues it now), and the "
      "job enqueued for the latest occurrence that\ngot one. Schedules are "
      "registered in code (qg::PeriodicEnqueuer), not here.\n"
      "  --json      a JSON array instead of a table (times in UTC, null when "
      "unknown)\n"
      "  --remove    forget the record of schedule NAME (its jobs stay); a "
      "process that\n"
      "              still registers it starts a new record\n" +
          std::string(kDbHelp) +
          "Exit status: 0 listed or removed, 1 no such schedule or another "
          "failure (e.g.\nno `qg migrate`), 2 a usage mistake.\n",
      Main};
  return command;
}

}  // namespace qg_cli
