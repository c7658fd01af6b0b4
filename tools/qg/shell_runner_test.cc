// Tests of the shell-handler runner of `qg work`, with real processes.
#include "tools/qg/shell_runner.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/testing/status_matchers.h"

namespace qg_cli {
namespace {

using ::qg_testing::IsOk;
using ::qg_testing::StatusIs;

std::string TmpPath(const std::string& name) {
  const char* tmp = getenv("TEST_TMPDIR");
  return absl::StrCat(tmp ? tmp : "/tmp", "/", name, "-", getpid());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ShellRunnerTest, PassesInputAndEnvironmentAndSucceedsOnExitZero) {
  std::string out = TmpPath("input");
  EXPECT_THAT(RunShellCommand({.command = absl::StrCat(
                                   "cat > ", out, "; echo \" $QG_X\" >> ", out),
                               .input = R"(["hello"])",
                               .env = {"QG_X=42"}}),
              IsOk());
  EXPECT_EQ(ReadFile(out), "[\"hello\"] 42\n");
}

TEST(ShellRunnerTest, FailureCarriesTheExitStatusAndTheLastStderrLines) {
  EXPECT_THAT(
      RunShellCommand({.command = "for i in $(seq 1 15); do echo line $i >&2; "
                                  "done; exit 3"}),
      StatusIs(absl::StatusCode::kUnknown,
               "command exited with status 3: line 6\nline 7\nline 8\nline "
               "9\nline 10\nline 11\nline 12\nline 13\nline 14\nline 15"));
  EXPECT_THAT(
      RunShellCommand({.command = "kill -KILL $$"}),
      StatusIs(absl::StatusCode::kUnknown, "command killed by signal 9"));
}

}  // namespace
}  // namespace qg_cli
