// tools/qg/shell_runner.h
// -----------------------------------------------------------------------------
//
// Runs one job's shell handler for `qg work`: `/bin/sh -c COMMAND` with the
// job's args on its stdin and its stderr captured; exit 0 is success,
// anything else an error holding the last lines of its stderr.
//
// Example:
//   absl::Status s = RunShellCommand({.command = "cat > out.json",
//                                     .input = R"(["hello"])",
//                                     .env = {"QG_JOB_ID=42"}});
//   // OK; or Unknown("command exited with status 3: the real reason")
#ifndef TOOLS_QG_SHELL_RUNNER_H_
#define TOOLS_QG_SHELL_RUNNER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace qg_cli {

// ShellCommand
struct ShellCommand {
  // Run by /bin/sh -c.
  std::string command;
  // Written to the command's stdin, which is then closed.
  std::string input;
  // NAME=VALUE entries added to (or replacing in) the environment.
  std::vector<std::string> env;
};

// RunShellCommand()
//
// Runs `cmd` and waits for it. OK on exit status 0; otherwise `Unknown`:
// "command exited with status N: <the last 10 lines of its stderr>" or
// "command killed by signal N: ...".
absl::Status RunShellCommand(const ShellCommand& cmd);

}  // namespace qg_cli

#endif  // TOOLS_QG_SHELL_RUNNER_H_
