// qg batches: batches (qg/batch.h) and their progress: the newest, the open
// ones, or one in full; and sealing one.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/admin.h"
#include "qg/admin_json.h"
#include "qg/batch.h"
#include "qg/client.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/output.h"

namespace qg_cli {
namespace {

struct BatchesOptions {
  std::string db;
  bool json = false;
  bool open = false;
  int limit = 50;
  std::optional<int64_t> id;  // one batch
  bool seal = false;
};

absl::StatusOr<BatchesOptions> Parse(const std::vector<std::string>& args) {
  BatchesOptions o;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.Bool("json", &o.json);
  flags.Bool("open", &o.open);
  flags.Int("limit", &o.limit);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  size_t at = 0;
  if (!positional.empty() && positional[0] == "seal") {
    o.seal = true;
    at = 1;
  }
  if (positional.size() > at) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(positional[at], &id) || id <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", positional[at], "\" is not a batch ID (a positive integer)"));
    }
    o.id = id;
    ++at;
  }
  if (positional.size() > at) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", positional[at], "\""));
  }
  if (o.seal && !o.id.has_value()) {
    return absl::InvalidArgumentError("`qg batches seal` needs a batch ID");
  }
  if (o.limit < 1 || o.limit > 10000) {
    return absl::InvalidArgumentError("--limit must be 1..10000");
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

std::string When(const std::optional<absl::Time>& t) {
  return t.has_value() ? FormatUtc(*t) : "-";
}

void PrintOne(const qg::BatchInfo& b) {
  printf("batch %lld %s\n", static_cast<long long>(b.id),
         JsonString(b.description).c_str());
  printf("  created:   %s\n", FormatUtc(b.created_at).c_str());
  printf("  sealed:    %s\n", b.sealed_at.has_value()
                                  ? FormatUtc(*b.sealed_at).c_str()
                                  : "no (it takes more jobs)");
  printf("  finished:  %s\n", When(b.finished_at).c_str());
  printf(
      "  jobs:      %lld total, %lld completed, %lld dead, %lld "
      "cancelled, %lld waiting or running\n",
      static_cast<long long>(b.total), static_cast<long long>(b.completed),
      static_cast<long long>(b.dead), static_cast<long long>(b.cancelled),
      static_cast<long long>(b.waiting()));
  auto job = [](const std::optional<int64_t>& id) {
    return id.has_value() ? absl::StrCat("job ", *id) : std::string("-");
  };
  printf("  callbacks: success %s, finish %s\n", job(b.success_job_id).c_str(),
         job(b.finish_job_id).c_str());
}

int Run(const BatchesOptions& o) {
  const Command& self = BatchesCommand();
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  if (o.seal) {
    absl::StatusOr<std::unique_ptr<qg::Client>> client =
        qg::Client::Create({.conninfo = o.db, .max_conns = 1});
    if (!client.ok()) return FailConnect(self, client.status());
    if (absl::Status s = (*client)->SealBatch(*o.id); !s.ok()) {
      return Fail(self, s);
    }
  }
  if (o.id.has_value()) {
    absl::StatusOr<qg::BatchInfo> b = (*admin)->GetBatch(*o.id);
    if (!b.ok()) return Fail(self, b.status());
    if (o.json) {
      printf("%s\n", qg::BatchJson(*b).text().c_str());
    } else {
      PrintOne(*b);
    }
    return kExitOk;
  }
  absl::StatusOr<std::vector<qg::BatchInfo>> list =
      (*admin)->ListBatches(o.open, o.limit);
  if (!list.ok()) return Fail(self, list.status());
  if (o.json) {
    std::vector<JsonObject> items;
    for (const qg::BatchInfo& b : *list) items.push_back(qg::BatchJson(b));
    printf("%s\n", JsonArray(items).c_str());
    return kExitOk;
  }
  Table table({"ID", "DESCRIPTION", "STATE", "TOTAL", "COMPLETED", "DEAD",
               "CANCELLED", "WAITING", "CREATED_AT"});
  for (const qg::BatchInfo& b : *list) {
    std::string state = b.finished_at.has_value() ? "finished"
                        : b.sealed_at.has_value() ? "sealed"
                                                  : "open";
    table.AddRow({absl::StrCat(b.id), Truncate(Printable(b.description), 40),
                  state, absl::StrCat(b.total), absl::StrCat(b.completed),
                  absl::StrCat(b.dead), absl::StrCat(b.cancelled),
                  absl::StrCat(b.waiting()), FormatUtc(b.created_at)});
  }
  table.Print(stdout);
  if (table.empty()) printf("(no batches)\n");
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(BatchesCommand(), args, Parse, Run);
}

}  // namespace

const Command& BatchesCommand() {
  static const Command command{
      "batches",
      {"qg batches [--open] [--limit N] [--json] [--db CONNINFO]",
       "qg batches ID [--json] [--db CONNINFO]",
       "qg batches seal ID [--db CONNINFO]"},
      absl::StrCat(
          "Batches (README, \"Batches\"): the newest first with their "
          "progress, only\nthose not finished with --open; one batch in "
          "full; or seal one (it takes no\nmore jobs, and finishes once "
          "every job it has is settled).\n",
          kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
