// qg limits: list, set and remove flow-control limits (qg/limits.h), which
// every qg-cpp worker pool on the database honours from its next lock scan.
#include "qg/limits.h"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "qg/admin.h"
#include "qg/admin_json.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/output.h"

namespace qg_cli {
namespace {

struct LimitsOptions {
  std::string db;
  bool json = false;
  enum class Verb { kList, kSet, kRemove } verb = Verb::kList;
  std::string name;
  qg::Limit limit;
};

absl::StatusOr<LimitsOptions> Parse(const std::vector<std::string>& args) {
  LimitsOptions o;
  FlagParser flags;
  std::optional<std::string> queue, type, key_args;
  std::string key_by;
  int concurrency = -1, rate = 0, burst = 1;
  absl::Duration per = absl::Seconds(1);
  flags.String("db", &o.db);
  flags.Bool("json", &o.json);
  flags.OptionalString("queue", &queue);
  flags.OptionalString("type", &type);
  flags.String("key-by", &key_by);
  flags.OptionalString("key-args", &key_args);
  flags.Int("concurrency", &concurrency);
  flags.Bool("per-pool", &o.limit.per_pool);
  flags.Int("rate", &rate);
  flags.Duration("per", &per);
  flags.Int("burst", &burst);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  const bool set_flags = queue || type || !key_by.empty() || key_args ||
                         flags.IsSet("concurrency") || o.limit.per_pool ||
                         flags.IsSet("rate") || flags.IsSet("per") ||
                         flags.IsSet("burst");
  if (positional.empty() || positional[0] == "list") {
    if (positional.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", positional[1], "\""));
    }
    if (set_flags) {
      return absl::InvalidArgumentError(
          "limit flags go with `qg limits set NAME`");
    }
  } else if (positional[0] == "set" || positional[0] == "remove") {
    o.verb = positional[0] == "set" ? LimitsOptions::Verb::kSet
                                    : LimitsOptions::Verb::kRemove;
    if (positional.size() != 2) {
      return absl::InvalidArgumentError(
          positional.size() < 2
              ? absl::StrCat("`qg limits ", positional[0], "` needs a NAME")
              : absl::StrCat("unexpected argument \"", positional[2], "\""));
    }
    o.name = positional[1];
    if (absl::Status s = CheckText("limit name", o.name); !s.ok()) return s;
    if (o.json) return absl::InvalidArgumentError("--json goes with the list");
    if (o.verb == LimitsOptions::Verb::kRemove && set_flags) {
      return absl::InvalidArgumentError(
          "`qg limits remove NAME` takes no limit flags");
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown subcommand \"", positional[0], "\" (list, set or remove)"));
  }
  if (o.verb == LimitsOptions::Verb::kSet) {
    qg::Limit& l = o.limit;
    l.name = o.name;
    l.queue = queue;
    l.type = type;
    if (key_args) {
      if (!key_by.empty() && key_by != "args") {
        return absl::InvalidArgumentError("--key-args goes with --key-by args");
      }
      key_by = "args";
      l.key_args = absl::StrSplit(*key_args, ',');
    }
    if (!key_by.empty()) {
      std::optional<qg::Limit::KeyBy> k = qg::ParseKeyBy(key_by);
      if (!k) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--key-by must be none, job or args, not \"", key_by, "\""));
      }
      l.key_by = *k;
    }
    if (flags.IsSet("concurrency")) l.concurrency = concurrency;
    if (flags.IsSet("rate")) l.rate = rate;
    if ((flags.IsSet("per") || flags.IsSet("burst")) && !flags.IsSet("rate")) {
      return absl::InvalidArgumentError("--per and --burst go with --rate");
    }
    l.rate_period = per;
    l.rate_burst = burst;
    if (absl::Status s = qg::ValidateLimit(l); !s.ok()) return s;
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

std::string Applies(const qg::Limit& l) {
  std::string out =
      l.queue ? absl::StrCat("queue ", JsonString(*l.queue)) : "every queue";
  absl::StrAppend(
      &out, ", ",
      l.type ? absl::StrCat("type ", JsonString(*l.type)) : "every type");
  switch (l.key_by) {
    case qg::Limit::KeyBy::kNone:
      break;
    case qg::Limit::KeyBy::kJob:
      absl::StrAppend(&out, ", per job key");
      break;
    case qg::Limit::KeyBy::kArgs:
      absl::StrAppend(&out, ", per args ", absl::StrJoin(l.key_args, ","));
      break;
  }
  return Printable(out);
}

std::string Rule(const qg::Limit& l) {
  std::vector<std::string> parts;
  if (l.concurrency) {
    parts.push_back(absl::StrCat(*l.concurrency, " at once",
                                 l.per_pool ? " per pool" : ""));
  }
  if (l.rate) {
    parts.push_back(absl::StrCat(
        *l.rate, " per ", absl::FormatDuration(l.rate_period),
        l.rate_burst > 1 ? absl::StrCat(" (burst ", l.rate_burst, ")") : ""));
  }
  return absl::StrJoin(parts, ", ");
}

int List(const LimitsOptions& o, qg::Admin& admin) {
  const Command& self = LimitsCommand();
  absl::StatusOr<std::vector<qg::LimitInfo>> list = admin.ListLimits();
  if (!list.ok()) return Fail(self, list.status());
  if (o.json) {
    std::vector<JsonObject> items;
    for (const qg::LimitInfo& i : *list) items.push_back(qg::LimitJson(i));
    printf("%s\n", JsonArray(items).c_str());
    return kExitOk;
  }
  Table table(
      {"NAME", "APPLIES_TO", "LIMIT", "RUNNING", "BUSIEST_BUCKET", "WAITING"});
  for (const qg::LimitInfo& i : *list) {
    table.AddRow({Printable(i.limit.name), Applies(i.limit), Rule(i.limit),
                  absl::StrCat(i.running), absl::StrCat(i.busiest),
                  absl::StrCat(i.waiting, i.waiting_capped ? "+" : "")});
  }
  table.Print(stdout);
  if (table.empty()) printf("(no limits)\n");
  return kExitOk;
}

int Run(const LimitsOptions& o) {
  const Command& self = LimitsCommand();
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  switch (o.verb) {
    case LimitsOptions::Verb::kList:
      return List(o, **admin);
    case LimitsOptions::Verb::kSet: {
      if (absl::Status s = (*admin)->SetLimit(o.limit); !s.ok()) {
        return Fail(self, s);
      }
      printf(
          "limit %s set: %s for %s. qg-cpp worker pools apply it from their "
          "next lock scan; Ruby Que, que-go and qg workers do not know of "
          "limits.\n",
          JsonString(o.name).c_str(), Rule(o.limit).c_str(),
          Applies(o.limit).c_str());
      return kExitOk;
    }
    case LimitsOptions::Verb::kRemove: {
      absl::StatusOr<bool> removed = (*admin)->RemoveLimit(o.name);
      if (!removed.ok()) return Fail(self, removed.status());
      printf("limit %s %s\n", JsonString(o.name).c_str(),
             *removed ? "removed" : "did not exist");
      return kExitOk;
    }
  }
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(LimitsCommand(), args, Parse, Run);
}

}  // namespace

const Command& LimitsCommand() {
  static const Command command{
      "limits",
      {"qg limits [list] [--json] [--db CONNINFO]",
       "qg limits set NAME [--db CONNINFO] [--queue Q] [--type T]\n"
       "         [--key-by none|job|args] [--key-args F1,F2] [--concurrency "
       "N]\n"
       "         [--per-pool] [--rate N [--per DURATION] [--burst B]]",
       "qg limits remove NAME [--db CONNINFO]"},
      "Flow control: concurrency and rate limits every qg-cpp worker pool "
      "on the\ndatabase honours from its next lock scan (stored in "
      "qg_limits; README, \"Flow\ncontrol\", has the exact rules). A limit "
      "applies to QUEUE's jobs (default: every\nqueue) of TYPE (default: "
      "every type), per bucket: all together (--key-by none),\nper job key "
      "(--key-by job: NewJob's limit key), or per value of args fields\n"
      "(--key-args tenant_id,region). --concurrency N: at most N of a "
      "bucket's jobs\nheld at once, across every process (--per-pool: per "
      "worker pool); strict, and a\nkilled worker's slots free with its "
      "session. --rate N --per 1m: at most N\nstarts per period per bucket "
      "(evenly spaced; --burst B allows B at once).\nA job a limit holds back "
      "waits without an error; other buckets' jobs run.\nRuby Que, que-go and "
      "qg workers do not know of limits. `set` replaces a limit\nof the same "
      "name; a lowered concurrency starts nothing until the running jobs\nare "
      "under it. The list shows each limit with the jobs held now (running "
      "or\nlocked ahead), the most in one bucket, and the runnable jobs "
      "waiting.\n"
      "  --json      the list as a JSON array\n" +
          std::string(kDbHelp) +
          "Exit status: 0 done, 1 a failure (no `qg migrate`, the database), "
          "2 a usage\nmistake (an unknown subcommand or flag, a bad limit).\n",
      Main};
  return command;
}

}  // namespace qg_cli
