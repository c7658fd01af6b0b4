// qg/testing/subprocess.h
// -----------------------------------------------------------------------------
//
// Child processes in tests: finding a binary in the test's runfiles, starting
// it with its own environment and standard streams, waiting for it with or
// without a deadline, and watching other processes come and go. Shared by
// the tests that start the soak worker, the `qg` binary, node, and the
// embedded server's teardown child.
//
// Failures to start a child (fork, exec) show as a child that exits with
// 127, as a shell would report them.
//
// Example:
//   std::string out = qg_testing::TempPath("out");
//   pid_t pid = qg_testing::Spawn({
//       .argv = {qg_testing::RunfilePath("tools/qg"), "stats"},
//       .env = {{"DATABASE_URL", db->conninfo()}},
//       .stdout_path = out,
//   });
//   EXPECT_EQ(qg_testing::Wait(pid), 0);
//   EXPECT_THAT(qg_testing::ReadFile(out), HasSubstr("queue"));
#ifndef QG_TESTING_SUBPROCESS_H_
#define QG_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace qg_testing {

// RunfilePath()
//
// The path of `path` (from the workspace root, e.g. "tools/qg") among this
// test's runfiles: under $TEST_SRCDIR in `bazel test`, else beside the
// binary (`<binary>.runfiles/`) when a test binary is run by hand.
std::string RunfilePath(const std::string& path);

// TempPath()
//
// A path no earlier call returned, under $TEST_TMPDIR (else /tmp):
// "<dir>/<name>-<pid>-<n>". Nothing is created.
std::string TempPath(const std::string& name);

// ReadFile()
//
// The whole content of `path`; "" when it cannot be read.
std::string ReadFile(const std::string& path);

// What `Spawn()` starts.
struct SpawnOptions {
  // The program and its arguments. A program without '/' is looked up in
  // PATH. Required.
  std::vector<std::string> argv;
  // Changes to the child's environment, in order: a value sets the
  // variable, `std::nullopt` unsets it. Default: none (the test's own).
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
  // Files for the child's standard streams: stdin is opened for reading,
  // stdout and stderr are created or truncated. Default: "" (the test's own).
  std::string stdin_path;
  std::string stdout_path;
  std::string stderr_path;
  // When not null, the child's stdout is a pipe whose reading end (close on
  // exec) is stored here; overrides `stdout_path`. Default: nullptr.
  int* stdout_pipe = nullptr;
};

// Spawn()
//
// Starts a child process as `options` say; returns its pid.
pid_t Spawn(const SpawnOptions& options);

// WaitStatus()
//
// Waits for child `pid` to exit and returns its raw wait status (see
// `WIFEXITED`), retrying when a signal interrupts the wait.
int WaitStatus(pid_t pid);

// ExitCode()
//
// The exit code of a wait status, or 128 + the signal that killed it.
int ExitCode(int status);

// Wait()
//
// Waits for child `pid` to exit; its `ExitCode()`.
int Wait(pid_t pid);

// WaitAtMost()
//
// Waits up to `timeout` for child `pid` to exit: its `ExitCode()`, or
// `std::nullopt` while it still runs.
std::optional<int> WaitAtMost(pid_t pid, absl::Duration timeout);

// KillAndReap()
//
// SIGKILLs child `pid` (a process a test gave up on) and reaps it.
void KillAndReap(pid_t pid);

// Alive()
//
// Whether process `pid` (any process, not only a child) is running; a
// zombie is not.
bool Alive(pid_t pid);

// DiesWithin()
//
// Polls until process `pid` is not `Alive()`, for up to `timeout`; whether
// it died.
bool DiesWithin(pid_t pid, absl::Duration timeout);

}  // namespace qg_testing

#endif  // QG_TESTING_SUBPROCESS_H_
