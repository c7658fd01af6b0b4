#include "tools/qg/cli.h"

#include <cstdio>

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

absl::StatusOr<std::string> ResolveDb(const std::string& flag) {
  std::optional<std::string> db = qg::ResolveConninfo(flag);
  if (!db.has_value()) {
    return absl::InvalidArgumentError(
        "no database: pass --db=CONNINFO or set DATABASE_URL");
  }
  return *db;
}

absl::StatusOr<std::unique_ptr<qg::Admin>> ConnectAdmin(const std::string& db) {
  return qg::Admin::Connect({.conninfo = db, .max_conns = 1});
}

}  // namespace qg_cli
