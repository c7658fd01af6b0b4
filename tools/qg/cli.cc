#include "tools/qg/cli.h"

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/conninfo.h"

namespace qg_cli {

const std::vector<const Command*>& AllCommands() {
  static const auto* all = new std::vector<const Command*>{
      &MigrateCommand(), &EnqueueCommand(),  &StatsCommand(),  &JobsCommand(),
      &RetryCommand(),   &DeleteCommand(),   &CancelCommand(), &PauseCommand(),
      &ResumeCommand(),  &PeriodicCommand(), &WorkCommand(),   &DemoCommand(),
      &ConsoleCommand(),
  };
  return *all;
}

int Fail(const Command& command, int code, absl::string_view message) {
  std::string line = absl::StrCat("qg ", command.name, ": ", message, "\n");
  fputs(line.c_str(), stderr);
  return code;
}

int Fail(const Command& command, const absl::Status& status) {
  return Fail(command, kExitFailure, status.message());
}

std::string UsageText(const Command& command) {
  std::string text;
  for (const std::string& form : command.usage) {
    absl::StrAppend(&text, text.empty() ? "Usage: " : "       ", form, "\n");
  }
  return text;
}

int UsageError(const Command& command, absl::string_view message) {
  std::string text = absl::StrCat("qg ", command.name, ": ", message, "\n\n",
                                  UsageText(command));
  fputs(text.c_str(), stderr);
  return kExitUsage;
}

int FailConnect(const Command& command, const absl::Status& status) {
  return Fail(command,
              status.code() == absl::StatusCode::kInvalidArgument
                  ? kExitUsage
                  : kExitFailure,
              status.message());
}

absl::Status ResolveDb(std::string& db) {
  std::optional<std::string> resolved = qg::ResolveConninfo(db);
  if (!resolved.has_value()) {
    return absl::InvalidArgumentError(
        "no database: pass --db=CONNINFO or set DATABASE_URL");
  }
  db = *std::move(resolved);
  return absl::OkStatus();
}

absl::Status NoArguments(const std::vector<std::string>& positional) {
  if (positional.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("unexpected argument \"", positional[0], "\""));
}

absl::StatusOr<int64_t> ParseJobId(absl::string_view text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a job ID"));
  }
  return id;
}

absl::StatusOr<int64_t> OneJobId(const std::vector<std::string>& positional) {
  if (positional.size() != 1) {
    return absl::InvalidArgumentError("expected exactly one job ID");
  }
  return ParseJobId(positional[0]);
}

absl::StatusOr<std::unique_ptr<qg::Admin>> ConnectAdmin(const std::string& db) {
  return qg::Admin::Connect({.conninfo = db, .max_conns = 1});
}

}  // namespace qg_cli
