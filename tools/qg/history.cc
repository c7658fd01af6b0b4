// qg history: lists finished jobs' records (qg/history.h), turns history on
// or off per queue or for all, sets retention and prunes.
#include "qg/history.h"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "qg/admin.h"
#include "qg/admin_json.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/output.h"

namespace qg_cli {
namespace {

struct HistoryOptions {
  std::string db;
  bool json = false;
  enum class Verb { kList, kOn, kOff, kDefault, kRetention, kPrune, kSettings };
  Verb verb = Verb::kList;
  std::optional<std::string> queue;  // on/off/default: one queue
  bool all = false;                  // on/off: the default for every queue
  qg::HistoryFilter filter;
  int limit = 50;
  std::optional<qg::HistoryCursor> after;
  std::optional<std::string> keep, max;  // retention
};

// A time or a duration before now: "2026-12-06T10:00:00Z" or "2h".
absl::StatusOr<absl::Time> ParseWhen(absl::string_view flag,
                                     absl::string_view text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return t;
  absl::Duration d;
  if (absl::ParseDuration(text, &d) && d >= absl::ZeroDuration() &&
      d != absl::InfiniteDuration()) {
    return absl::Now() - d;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, ": \"", text,
      "\" is neither an RFC 3339 time (2026-12-06T10:00:00Z) nor a duration "
      "ago (2h, 30m)"));
}

absl::StatusOr<HistoryOptions> Parse(const std::vector<std::string>& args) {
  HistoryOptions o;
  std::optional<std::string> outcome, since, until, after;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.Bool("json", &o.json);
  flags.OptionalString("queue", &o.filter.queue);
  flags.OptionalString("type", &o.filter.type);
  flags.OptionalString("outcome", &outcome);
  flags.OptionalString("since", &since);
  flags.OptionalString("until", &until);
  flags.Int("limit", &o.limit);
  flags.OptionalString("after", &after);
  flags.Bool("all", &o.all);
  flags.OptionalString("keep", &o.keep);
  flags.OptionalString("max", &o.max);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  std::string verb = positional.empty() ? "list" : positional[0];
  size_t want_args = 1;
  if (verb == "list") {
    o.verb = HistoryOptions::Verb::kList;
  } else if (verb == "on" || verb == "off" || verb == "default") {
    o.verb = verb == "on"    ? HistoryOptions::Verb::kOn
             : verb == "off" ? HistoryOptions::Verb::kOff
                             : HistoryOptions::Verb::kDefault;
    if (positional.size() >= 2) {
      o.queue = positional[1];
      want_args = 2;
      if (absl::Status s = CheckText("queue name", *o.queue); !s.ok()) {
        return s;
      }
    }
    if (o.queue.has_value() == o.all || (verb == "default" && o.all)) {
      return absl::InvalidArgumentError(
          absl::StrCat("`qg history ", verb, "` needs a QUEUE",
                       verb == "default" ? "" : " or --all"));
    }
  } else if (verb == "retention") {
    o.verb = HistoryOptions::Verb::kRetention;
    if (!o.keep.has_value() && !o.max.has_value()) {
      return absl::InvalidArgumentError(
          "`qg history retention` needs --keep DURATION|none and/or --max "
          "N|none");
    }
  } else if (verb == "prune") {
    o.verb = HistoryOptions::Verb::kPrune;
  } else if (verb == "settings") {
    o.verb = HistoryOptions::Verb::kSettings;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown subcommand \"", verb,
                     "\" (list, on, off, default, retention, prune or "
                     "settings)"));
  }
  if (positional.size() > want_args) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", positional[want_args], "\""));
  }
  if (outcome.has_value()) {
    absl::StatusOr<qg::JobOutcome> out = qg::ParseJobOutcome(*outcome);
    if (!out.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--outcome: ", out.status().message()));
    }
    o.filter.outcome = *out;
  }
  if (since.has_value()) {
    absl::StatusOr<absl::Time> t = ParseWhen("since", *since);
    if (!t.ok()) return t.status();
    o.filter.finished_from = *t;
  }
  if (until.has_value()) {
    absl::StatusOr<absl::Time> t = ParseWhen("until", *until);
    if (!t.ok()) return t.status();
    o.filter.finished_before = *t;
  }
  if (o.limit < 1 || o.limit > 10000) {
    return absl::InvalidArgumentError("--limit must be 1..10000");
  }
  if (after.has_value()) {
    absl::StatusOr<qg::HistoryCursor> c = qg::HistoryCursor::Decode(*after);
    if (!c.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--after: ", c.status().message()));
    }
    o.after = *c;
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

std::string Duration(const std::optional<absl::Duration>& d) {
  return d.has_value() ? absl::FormatDuration(*d) : "-";
}

int List(const HistoryOptions& o, qg::Admin& admin) {
  const Command& self = HistoryCommand();
  absl::StatusOr<qg::HistoryPage> page =
      admin.ListHistory(o.filter, o.limit, o.after);
  if (!page.ok()) return Fail(self, page.status());
  if (o.json) {
    std::vector<JsonObject> items;
    for (const qg::FinishedJob& f : page->jobs)
      items.push_back(qg::FinishedJobJson(f, /*full=*/false));
    printf("%s\n", JsonArray(items).c_str());
    if (page->next.has_value()) {
      fprintf(stderr, "qg history: more: add --after %s\n",
              ShellQuote(page->next->Encode()).c_str());
    }
    return kExitOk;
  }
  Table table({"ID", "QUEUE", "TYPE", "OUTCOME", "ATTEMPTS", "FINISHED_AT",
               "RUN_TIME", "LAST_ERROR"});
  for (const qg::FinishedJob& f : page->jobs) {
    table.AddRow({absl::StrCat(f.id),
                  f.queue.empty() ? "(default)" : Printable(f.queue),
                  Printable(f.type), std::string(qg::JobOutcomeName(f.outcome)),
                  absl::StrCat(f.attempts), FormatUtc(f.finished_at),
                  Duration(f.run_time),
                  Truncate(Printable(f.last_error.value_or("")), 60)});
  }
  table.Print(stdout);
  if (table.empty()) printf("(no records)\n");
  if (page->next.has_value()) {
    printf("(more: add --after %s for the next page)\n",
           ShellQuote(page->next->Encode()).c_str());
  }
  return kExitOk;
}

int ShowSettings(const HistoryOptions& o, qg::Admin& admin) {
  absl::StatusOr<qg::HistorySettings> s = admin.GetHistorySettings();
  if (!s.ok()) return Fail(HistoryCommand(), s.status());
  if (o.json) {
    JsonObject j;
    j.Bool("all_queues", s->all_queues);
    std::vector<JsonObject> queues;
    for (const auto& [q, on] : s->queues) {
      JsonObject e;
      e.String("queue", q);
      e.Bool("on", on);
      queues.push_back(std::move(e));
    }
    j.Raw("queues", JsonArray(queues));
    if (s->keep.has_value()) {
      j.Double("keep_s", absl::ToDoubleSeconds(*s->keep));
    } else {
      j.Null("keep_s");
    }
    if (s->max_records.has_value()) {
      j.Int("max_records", *s->max_records);
    } else {
      j.Null("max_records");
    }
    printf("%s\n", j.text().c_str());
    return kExitOk;
  }
  printf("default:     %s for every queue without a setting of its own\n",
         s->all_queues ? "on" : "off");
  for (const auto& [q, on] : s->queues) {
    printf("queue %s: %s\n", JsonString(q).c_str(), on ? "on" : "off");
  }
  printf(
      "retention:   keep %s, at most %s records\n",
      s->keep.has_value() ? absl::FormatDuration(*s->keep).c_str() : "forever",
      s->max_records.has_value() ? absl::StrCat(*s->max_records).c_str()
                                 : "any number of");
  return kExitOk;
}

int Run(const HistoryOptions& o) {
  const Command& self = HistoryCommand();
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  qg::Admin& a = **admin;
  switch (o.verb) {
    case HistoryOptions::Verb::kList:
      return List(o, a);
    case HistoryOptions::Verb::kSettings:
      return ShowSettings(o, a);
    case HistoryOptions::Verb::kOn:
    case HistoryOptions::Verb::kOff: {
      bool on = o.verb == HistoryOptions::Verb::kOn;
      absl::Status s =
          o.all ? a.SetHistoryDefault(on) : a.SetHistory(*o.queue, on);
      if (!s.ok()) return Fail(self, s);
      printf("job history %s for %s: from the next finished job on\n",
             on ? "on" : "off",
             o.all ? "every queue without a setting of its own"
                   : absl::StrCat("queue ", JsonString(*o.queue)).c_str());
      return kExitOk;
    }
    case HistoryOptions::Verb::kDefault: {
      absl::Status s = a.SetHistory(*o.queue, std::nullopt);
      if (!s.ok()) return Fail(self, s);
      printf("queue %s follows the default again\n",
             JsonString(*o.queue).c_str());
      return kExitOk;
    }
    case HistoryOptions::Verb::kRetention: {
      absl::StatusOr<qg::HistorySettings> now = a.GetHistorySettings();
      if (!now.ok()) return Fail(self, now.status());
      std::optional<absl::Duration> keep = now->keep;
      std::optional<int64_t> max = now->max_records;
      if (o.keep.has_value()) {
        keep.reset();
        if (*o.keep != "none") {
          absl::Duration d;
          if (!absl::ParseDuration(*o.keep, &d) || d < absl::ZeroDuration() ||
              d == absl::InfiniteDuration()) {
            return UsageError(self, absl::StrCat("--keep: \"", *o.keep,
                                                 "\" is not a duration (168h, "
                                                 "30m) or none"));
          }
          keep = d;
        }
      }
      if (o.max.has_value()) {
        max.reset();
        if (*o.max != "none") {
          int64_t n = 0;
          if (!absl::SimpleAtoi(*o.max, &n) || n < 0) {
            return UsageError(self, absl::StrCat("--max: \"", *o.max,
                                                 "\" is not a count or none"));
          }
          max = n;
        }
      }
      absl::Status s = a.SetHistoryRetention(keep, max);
      if (!s.ok()) return Fail(self, s);
      return ShowSettings(o, a);
    }
    case HistoryOptions::Verb::kPrune: {
      absl::StatusOr<int64_t> n = a.PruneHistory();
      if (!n.ok()) return Fail(self, n.status());
      printf("pruned %lld record(s) past retention\n",
             static_cast<long long>(*n));
      return kExitOk;
    }
  }
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(HistoryCommand(), args, Parse, Run);
}

}  // namespace

const Command& HistoryCommand() {
  static const Command command{
      "history",
      {"qg history [list] [--queue Q] [--type T] [--outcome O] [--since WHEN]\n"
       "         [--until WHEN] [--limit N] [--after CURSOR] [--json] "
       "[--db CONNINFO]",
       "qg history on|off (QUEUE | --all) [--db CONNINFO]",
       "qg history default QUEUE [--db CONNINFO]",
       "qg history retention [--keep DURATION|none] [--max N|none] "
       "[--db CONNINFO]",
       "qg history prune [--db CONNINFO]",
       "qg history settings [--json] [--db CONNINFO]"},
      absl::StrCat(
          "Job history: the records of jobs qg-cpp workers finished "
          "(completed, dead,\ncancelled) in queues with history on, newest "
          "first (README, \"Job history\").\n`qg jobs ID` shows one record "
          "in full, with its output.\n"
          "  list               records; --outcome completed|dead|cancelled; "
          "--since and\n"
          "                     --until take an RFC 3339 time or a duration "
          "ago (2h)\n"
          "  on, off            turn history on or off for QUEUE, or with "
          "--all for every\n"
          "                     queue without a setting of its own\n"
          "  default            QUEUE follows the --all setting again\n"
          "  retention          keep records for DURATION and at most N "
          "(none: no bound;\n"
          "                     default 168h and 1000000)\n"
          "  prune              delete the records past retention now "
          "(workers do it\n"
          "                     every 10 seconds)\n"
          "  settings           what is on, and the retention\n",
          kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
