// qg console: the web console (//qg/console) on a database, until SIGINT or
// SIGTERM.
#include "qg/console/console.h"

#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "qg/conninfo.h"
#include "qg/metrics/http_listen.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"

namespace qg_cli {
namespace {

struct ConsoleCommandOptions {
  std::string db;
  qg::ConsoleOptions console;
};

// The most a token file may hold.
constexpr size_t kMaxTokenBytes = 64 * 1024;

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  absl::StatusOr<std::string> text =
      ReadInput("--token-file", path, kMaxTokenBytes);
  if (!text.ok()) return text.status();
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token-file: \"", path, "\" is empty"));
  }
  return token;
}

// A token every request carries in a header: printable ASCII, no spaces.
absl::Status CheckToken(absl::string_view from, absl::string_view token) {
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          from, ": the token must be printable ASCII without spaces"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ConsoleCommandOptions> Parse(
    const std::vector<std::string>& args) {
  ConsoleCommandOptions o;
  std::string token_file;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.String("listen", &o.console.listen);
  flags.Bool("read-only", &o.console.read_only);
  flags.String("token-file", &token_file);
  flags.Duration("refresh", &o.console.refresh);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (absl::Status s = NoArguments(positional); !s.ok()) return s;
  absl::StatusOr<qg::ListenAddress> address =
      qg::ParseListenAddress(o.console.listen);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: ", address.status().message()));
  }
  if (o.console.refresh <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--refresh must be positive");
  }
  if (flags.IsSet("token-file")) {
    if (token_file.empty()) {
      return absl::InvalidArgumentError("--token-file needs a path");
    }
    absl::StatusOr<std::string> token = ReadToken(token_file);
    if (!token.ok()) return token.status();
    if (absl::Status s = CheckToken("--token-file", *token); !s.ok()) return s;
    o.console.bearer_token = *token;
  } else if (const char* env = getenv("QG_CONSOLE_TOKEN");
             env != nullptr && *env != '\0') {
    if (absl::Status s = CheckToken("$QG_CONSOLE_TOKEN", env); !s.ok()) {
      return s;
    }
    o.console.bearer_token = env;
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  o.console.conninfo = o.db;
  return o;
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int Run(const ConsoleCommandOptions& o) {
  const Command& self = ConsoleCommand();
  {
    // Reach the database first, while SIGINT and SIGTERM still end qg
    // console at once (connecting to an unreachable server may take long).
    absl::StatusOr<std::unique_ptr<qg::Admin>> probe = ConnectAdmin(o.db);
    if (!probe.ok()) return FailConnect(self, probe.status());
  }
  // Blocked before the console's threads start: the main thread alone
  // takes them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  absl::StatusOr<std::unique_ptr<qg::Console>> console =
      qg::Console::Start(o.console);
  if (!console.ok()) return FailConnect(self, console.status());
  absl::StatusOr<qg::ListenAddress> address =
      qg::ParseListenAddress(o.console.listen);
  if (address.ok() && !IsLoopback(address->host) &&
      o.console.bearer_token.empty() && !o.console.read_only) {
    fprintf(stderr,
            "qg console: warning: listening on %s without a token: anyone "
            "who reaches it can retry and delete jobs (use --token-file, "
            "$QG_CONSOLE_TOKEN or --read-only)\n",
            address->ToString().c_str());
  }
  printf("qg console: %s (database %s%s%s); Ctrl-C stops it\n",
         (*console)->url().c_str(), qg::RedactConninfo(o.db).c_str(),
         o.console.read_only ? ", read-only" : "",
         o.console.bearer_token.empty() ? "" : ", token required");
  fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  (*console)->Stop();
  fprintf(stderr, "qg console: stopped\n");
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(ConsoleCommand(), args, Parse, Run);
}

}  // namespace

const Command& ConsoleCommand() {
  static const Command command{
      "console",
      {"qg console [--listen HOST:PORT] [--read-only] [--token-file PATH] "
       "[--refresh DURATION] [--db CONNINFO]"},
      "Serves the web console: per queue and type the ready, scheduled, "
      "working, errored\nand dead counts, the throughput of the last hours, "
      "the jobs (filtered, paged), each\njob in full, and actions (retry, "
      "delete, cancel, retry all errored or dead of a\ntype, pause and "
      "resume a queue). Also a JSON API under "
      "/api/v1/ and Prometheus metrics at /metrics. Runs until\nSIGINT "
      "(Ctrl-C) or SIGTERM.\n"
      "  --listen      where to listen (default 127.0.0.1:8080: this host "
      "only)\n"
      "  --read-only   hide and refuse every action\n"
      "  --token-file  a file holding a token every request must carry "
      "(Authorization:\n"
      "                Bearer TOKEN, or the page's sign-in); default "
      "$QG_CONSOLE_TOKEN, if\n"
      "                set. Never on the command line.\n"
      "  --refresh     read the counts at most this often (default 5s)\n" +
          std::string(kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
