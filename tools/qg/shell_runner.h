// tools/qg/shell_runner.h
// -----------------------------------------------------------------------------
//
// Runs one job's shell handler for `qg work`: `/bin/sh -c COMMAND` with the
// job's args on its stdin and its stderr captured; exit 0 is success,
// anything else an error holding the last lines of its stderr.
//
// The handler is a process group of its own (it and whatever it starts), so
// that it can be stopped as a whole, and it starts clean: an empty signal
// mask and every signal at its default disposition, whatever qg work blocks
// or ignores. The runner waits for the handler's exit, not for the end of its
// stderr: after the exit it reads stderr for a moment longer (`drain`), then
// kills what is left of the group (a background process the handler did not
// wait for). A handler that closes its stdin early is fine (EPIPE ends the
// write; the caller must ignore SIGPIPE).
//
// Example:
//   ShellOptions options;
//   options.should_stop = [&] {
//     return job.Cancelled() ? ShellStop::kGracefully : ShellStop::kNo;
//   };
//   absl::Status s = RunShellCommand({.command = "cat > out.json",
//                                     .input = R"(["hello"])",
//                                     .env = {"QG_JOB_ID=42"}},
//                                    options);
//   // OK; or Unknown("command exited with status 3: the real reason")
#ifndef TOOLS_QG_SHELL_RUNNER_H_
#define TOOLS_QG_SHELL_RUNNER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

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

// What `ShellOptions::should_stop` asks for.
enum class ShellStop {
  kNo,
  // SIGTERM to the handler's process group, SIGKILL `kill_after` later.
  kGracefully,
  // SIGKILL to the group at once.
  kNow,
};

// ShellOptions
struct ShellOptions {
  // Polled every `poll_interval` while the command runs. Default: empty,
  // never stop.
  std::function<ShellStop()> should_stop;

  // How often `should_stop` is asked. Default: 50ms.
  absl::Duration poll_interval = absl::Milliseconds(50);

  // After SIGTERM, how long the group has before SIGKILL. Default: 3s.
  absl::Duration kill_after = absl::Seconds(3);

  // After the command exits, how long its stderr is still read before what
  // is left of its process group is killed. Default: 100ms.
  absl::Duration drain = absl::Milliseconds(100);
};

// RunShellCommand()
//
// Runs `cmd` and waits for it to exit. OK on exit status 0; when stopped
// through `should_stop`, `Cancelled` ("command stopped by qg: killed by
// signal 15: <stderr tail>") unless it still exited 0; otherwise `Unknown`:
// "command exited with status N: <the last 10 lines of its stderr>" or
// "command killed by signal N: ...". `Internal` when it cannot be started.
absl::Status RunShellCommand(const ShellCommand& cmd,
                             const ShellOptions& options = {});

}  // namespace qg_cli

#endif  // TOOLS_QG_SHELL_RUNNER_H_
