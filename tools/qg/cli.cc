#include "tools/qg/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "qg/conninfo.h"
#include "qg/internal/utf8.h"

namespace qg_cli {

const std::vector<const Command*>& AllCommands() {
  static const auto* all = new std::vector<const Command*>{
      &MigrateCommand(),  &EnqueueCommand(), &StatsCommand(),
      &JobsCommand(),     &RetryCommand(),   &DeleteCommand(),
      &CancelCommand(),   &PauseCommand(),   &ResumeCommand(),
      &PeriodicCommand(), &LimitsCommand(),  &HistoryCommand(),
      &BatchesCommand(),  &WorkCommand(),    &DemoCommand(),
      &ConsoleCommand(),  &GrantsCommand(),
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
  bool digits = !text.empty() &&
                std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
  if (!digits || !absl::SimpleAtoi(text, &id) || id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a job ID"));
  }
  return id;
}

absl::Status CheckText(absl::string_view what, absl::string_view value) {
  // The library's rules (PostgreSQL's): no overlong forms, no surrogates,
  // nothing past U+10FFFF. A NUL is valid UTF-8 there, but not in a flag.
  const size_t nul = value.find('\0');
  const size_t bad = qg::internal::FirstInvalidUtf8(value);
  if (nul != absl::string_view::npos && nul < bad) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": holds a NUL byte (at offset ", nul, ")"));
  }
  if (bad != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": not valid UTF-8 (byte 0x",
        absl::Hex(static_cast<unsigned char>(value[bad]), absl::kZeroPad2),
        " at offset ", bad, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckFilter(const qg::JobFilter& filter) {
  for (auto [flag, value] : {std::pair{"--queue", &filter.queue},
                             std::pair{"--type", &filter.type}}) {
    if (!value->has_value()) continue;
    if (absl::Status s = CheckText(flag, **value); !s.ok()) return s;
  }
  return CheckText("--error-contains", filter.error_contains);
}

absl::StatusOr<std::string> ReadInput(absl::string_view flag,
                                      const std::string& path,
                                      size_t max_bytes) {
  const bool stdin_input = path == "-";
  std::string name = stdin_input ? std::string("standard input")
                                 : absl::StrCat("\"", path, "\"");
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read ", name, ": ", why));
  };
  int fd = stdin_input ? 0 : open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error(strerror(errno));
  struct FdCloser {
    int fd;
    bool own;
    ~FdCloser() {
      if (own) close(fd);
    }
  } closer{fd, !stdin_input};
  struct stat st;
  if (fstat(fd, &st) != 0) return error(strerror(errno));
  if (S_ISDIR(st.st_mode)) return error("it is a directory");
  std::string out;
  char buf[64 * 1024];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return error(strerror(errno));
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return error(absl::StrCat("larger than ", max_bytes, " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

absl::Time EarliestRunAt() {
  return absl::FromCivil(absl::CivilSecond(1, 1, 1, 0, 0, 0),
                         absl::UTCTimeZone());
}

absl::Time DeadRunAt() {
  return absl::FromCivil(absl::CivilSecond(9999, 1, 1, 0, 0, 0),
                         absl::UTCTimeZone());
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

void NoteReadOnly(qg::Admin& admin) {
  absl::StatusOr<std::string> why = admin.ReadOnlyReason();
  if (!why.ok() || why->empty()) return;
  fprintf(stderr,
          "qg: note: read-only server (%s); what follows may lag the "
          "primary\n",
          absl::StrContains(*why, "hot standby")
              ? "a hot standby"
              : "default_transaction_read_only");
}

}  // namespace qg_cli
