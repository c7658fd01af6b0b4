// tools/qg/cli.h
// -----------------------------------------------------------------------------
//
// What every command of `qg` shares: the command table entry, exit codes,
// how errors are printed, and where the database comes from. Each command
// lives in its own file (tools/qg/<command>.cc) as parse → validate → run,
// its flags parsed into its own options struct (tools/qg/flags.h).
//
// Exit codes: 0 success, 1 failure at run time, 2 a usage mistake (bad flag
// or value, no database given, unparsable conninfo). `qg work` adds the
// forced stop (see its help).
#ifndef TOOLS_QG_CLI_H_
#define TOOLS_QG_CLI_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/admin.h"

namespace qg_cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Command
//
// One subcommand: `qg <name> ...`.
struct Command {
  std::string name;
  // The usage lines, one per form, e.g. {"qg migrate [--db CONNINFO]"}.
  std::vector<std::string> usage;
  // What `qg <name> --help` prints after the usage line.
  std::string help;
  // Runs the command on the arguments after its name (--help is handled by
  // main); returns the exit code.
  int (*main)(const std::vector<std::string>& args);
};

// Every command, in the order help lists them.
const std::vector<const Command*>& AllCommands();

// The flag every command takes, for the help texts.
inline constexpr char kDbHelp[] =
    "  --db        libpq conninfo or postgres:// URI (default: "
    "$DATABASE_URL)\n";

// Prints "qg <command>: <message>" on stderr and returns `code`.
int Fail(const Command& command, int code, absl::string_view message);

// A failure at run time: exit 1.
int Fail(const Command& command, const absl::Status& status);

// A usage mistake: the message and the usage lines on stderr, exit 2.
int UsageError(const Command& command, absl::string_view message);

// "Usage: FORM\n       FORM\n": the command's usage lines.
std::string UsageText(const Command& command);

// A failure to connect: exit 2 for an unparsable conninfo (a usage
// mistake), else 1.
int FailConnect(const Command& command, const absl::Status& status);

// ResolveDb()
//
// Fills in the database: `db` (from --db) when given, else $DATABASE_URL.
// `InvalidArgument` ("no database: ...") when neither is set.
absl::Status ResolveDb(std::string& db);

// NoArguments()
//
// `InvalidArgument` ("unexpected argument \"x\"") when a command that takes
// only flags got `positional` arguments.
absl::Status NoArguments(const std::vector<std::string>& positional);

// ParseJobId()
//
// `text` as a job ID (a positive integer, digits only); `InvalidArgument`
// ("\"x\" is not a job ID") otherwise.
absl::StatusOr<int64_t> ParseJobId(absl::string_view text);

// CheckText()
//
// OK when `value` is text PostgreSQL stores as it is (valid UTF-8, no NUL
// byte); otherwise `InvalidArgument` naming `what` and where it goes wrong
// ("--queue: not valid UTF-8 (byte 0xff at offset 3)"), never echoing the
// bytes.
absl::Status CheckText(absl::string_view what, absl::string_view value);

// CheckFilter()
//
// `CheckText()` on each text of `filter` the user gave (--queue, --type,
// --error-contains), named by its flag.
absl::Status CheckFilter(const qg::JobFilter& filter);

// ReadInput()
//
// The contents of the file `path` ("-": standard input) for flag `flag`, at
// most `max_bytes`. `InvalidArgument` naming the flag for a missing or
// unreadable file, a directory, or one larger than `max_bytes` (a device
// that never ends, such as /dev/zero, is one). Never throws.
absl::StatusOr<std::string> ReadInput(absl::string_view flag,
                                      const std::string& path,
                                      size_t max_bytes);

// The most worker threads `qg work` and `qg demo` start.
inline constexpr int kMaxWorkers = 1000;

// The run_ats a job may be enqueued with (as `qg::NewJob::run_at`
// documents): from 0001-01-01T00:00:00Z up to, not including, 9999-01-01,
// the run_at of dead jobs.
absl::Time EarliestRunAt();
absl::Time DeadRunAt();

// OneJobId()
//
// The job ID that `positional` must consist of; `InvalidArgument`
// ("expected exactly one job ID", or as `ParseJobId`) otherwise.
absl::StatusOr<int64_t> OneJobId(const std::vector<std::string>& positional);

// ParseAndRun()
//
// A command's main: runs `run` on the options `parse` makes of `args`; a
// parse error is a usage mistake of `command` (exit 2).
template <typename Options>
int ParseAndRun(
    const Command& command, const std::vector<std::string>& args,
    absl::StatusOr<Options> (*parse)(const std::vector<std::string>&),
    int (*run)(const Options&)) {
  absl::StatusOr<Options> options = parse(args);
  if (!options.ok()) return UsageError(command, options.status().message());
  return run(*options);
}

// ConnectAdmin()
//
// An `Admin` on `db` with the command line's settings (one connection).
absl::StatusOr<std::unique_ptr<qg::Admin>> ConnectAdmin(const std::string& db);

// Says on stderr, for the read commands, when the server takes no changes
// (a hot standby: what they show may lag the primary).
void NoteReadOnly(qg::Admin& admin);

// The commands (each in tools/qg/<name>.cc).
const Command& MigrateCommand();
const Command& EnqueueCommand();
const Command& StatsCommand();
const Command& JobsCommand();
const Command& RetryCommand();
const Command& DeleteCommand();
const Command& CancelCommand();
const Command& PauseCommand();   // tools/qg/pause.cc
const Command& ResumeCommand();  // tools/qg/pause.cc
const Command& PeriodicCommand();
const Command& LimitsCommand();   // tools/qg/limits.cc
const Command& HistoryCommand();  // tools/qg/history.cc
const Command& BatchesCommand();  // tools/qg/batches.cc
const Command& WorkCommand();
const Command& DemoCommand();
const Command& ConsoleCommand();
const Command& GrantsCommand();  // tools/qg/grants.cc

}  // namespace qg_cli

#endif  // TOOLS_QG_CLI_H_
