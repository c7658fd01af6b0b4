// Tests of the shell-handler runner of `qg work`, with real processes.
#include "tools/qg/shell_runner.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/subprocess.h"

namespace qg_cli {
namespace {

using ::qg_testing::Alive;
using ::qg_testing::DiesWithin;
using ::qg_testing::IsOk;
using ::qg_testing::ReadFile;
using ::qg_testing::StatusIs;
using ::qg_testing::TempPath;
using ::testing::HasSubstr;

pid_t ReadPid(const std::string& path) {
  pid_t pid = 0;
  EXPECT_TRUE(
      absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(path)), &pid))
      << ReadFile(path);
  return pid;
}

// qg work's own signal state while handlers run: SIGINT/SIGTERM blocked (it
// takes them with sigtimedwait), SIGPIPE ignored.
class ShellRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &old_mask_);
    old_pipe_ = signal(SIGPIPE, SIG_IGN);
    old_hup_ = signal(SIGHUP, SIG_IGN);
  }
  void TearDown() override {
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    signal(SIGPIPE, old_pipe_);
    signal(SIGHUP, old_hup_);
  }
  sigset_t old_mask_;
  sighandler_t old_pipe_, old_hup_;
};

TEST_F(ShellRunnerTest, PassesInputAndEnvironmentAndSucceedsOnExitZero) {
  std::string out = TempPath("input");
  EXPECT_THAT(RunShellCommand({.command = absl::StrCat(
                                   "cat > ", out, "; echo \" $QG_X\" >> ", out),
                               .input = R"(["hello"])",
                               .env = {"QG_X=42", "PATH=/usr/bin:/bin"}}),
              IsOk());
  EXPECT_EQ(ReadFile(out), "[\"hello\"] 42\n");
}

TEST_F(ShellRunnerTest, FailureCarriesTheExitStatusAndTheLastStderrLines) {
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

TEST_F(ShellRunnerTest, AHandlerThatExitsWithoutReadingItsStdinSucceeds) {
  std::string big(1 << 20, 'x');  // far more than a pipe holds
  for (const char* command : {"exit 0", "true", "head -c 10 >/dev/null"}) {
    EXPECT_THAT(RunShellCommand({.command = command, .input = big}), IsOk())
        << command;
  }
}

TEST_F(ShellRunnerTest, StartsWithACleanSignalStateInItsOwnProcessGroup) {
  std::string out = TempPath("signals");
  // Builtins only: the shell reads its own state (while it waits for a
  // child, a shell blocks signals of its own).
  ASSERT_THAT(
      RunShellCommand(
          {.command = absl::StrCat(
               "while read -r k v; do case $k in SigBlk:|SigIgn:) echo $k $v;; "
               "esac; done < /proc/$$/status > ",
               out, "; read -r pid comm state ppid pgrp rest < /proc/$$/stat; ",
               "echo pid=$pid pgrp=$pgrp >> ", out)}),
      IsOk());
  std::string text = ReadFile(out);
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  ASSERT_GE(lines.size(), 3u) << text;
  EXPECT_EQ(lines[0], "SigBlk: 0000000000000000");
  // Signals 1..31 at their defaults (glibc's posix_spawn leaves its two
  // internal signals, 32 and 33, ignored).
  ASSERT_THAT(lines[1], ::testing::StartsWith("SigIgn: "));
  EXPECT_EQ(std::stoull(lines[1].substr(8), nullptr, 16) & 0x7fffffffULL, 0u)
      << text;
  std::vector<std::string> ids = absl::StrSplit(lines[2], ' ');
  ASSERT_EQ(ids.size(), 2u) << text;
  EXPECT_EQ(ids[0].substr(4), ids[1].substr(5)) << "not a group leader";
}

TEST_F(ShellRunnerTest,
       ReturnsWhenTheHandlerExitsThoughABackgroundChildHoldsStderr) {
  std::string pid_file = TempPath("bg");
  absl::Time start = absl::Now();
  EXPECT_THAT(RunShellCommand(
                  {.command = absl::StrCat("sleep 60 & echo $! > ", pid_file,
                                           "; echo bye >&2; exit 0")}),
              IsOk());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  pid_t bg = ReadPid(pid_file);
  EXPECT_TRUE(DiesWithin(bg, absl::Seconds(5))) << "background child lives";
}

TEST_F(ShellRunnerTest, GracefulStopSendsSigtermToTheWholeGroup) {
  std::string pid_file = TempPath("grace");
  std::atomic<bool> stop{false};
  ShellOptions options;
  options.should_stop = [&] {
    return stop.load() ? ShellStop::kGracefully : ShellStop::kNo;
  };
  std::thread stopper([&] {
    while (ReadFile(pid_file).empty()) absl::SleepFor(absl::Milliseconds(10));
    stop = true;
  });
  absl::Time start = absl::Now();
  absl::Status s = RunShellCommand(
      {.command = absl::StrCat("sleep 60 & echo $! > ", pid_file, ".tmp; mv ",
                               pid_file, ".tmp ", pid_file,
                               "; echo working >&2; wait")},
      options);
  stopper.join();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kCancelled,
                          "command stopped by qg: killed by signal 15: "
                          "working"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(DiesWithin(ReadPid(pid_file), absl::Seconds(5)));
}

TEST_F(ShellRunnerTest, AGroupThatIgnoresSigtermGetsSigkillAfterKillAfter) {
  ShellOptions options;
  options.should_stop = [] { return ShellStop::kGracefully; };
  options.kill_after = absl::Milliseconds(300);
  absl::Time start = absl::Now();
  EXPECT_THAT(
      RunShellCommand({.command = "trap '' TERM; sleep 60"}, options),
      StatusIs(absl::StatusCode::kCancelled, HasSubstr("killed by signal 9")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(ShellRunnerTest, StopNowKillsAtOnce) {
  ShellOptions options;
  options.should_stop = [] { return ShellStop::kNow; };
  options.kill_after = absl::Seconds(60);
  absl::Time start = absl::Now();
  EXPECT_THAT(
      RunShellCommand({.command = "trap '' TERM; sleep 60"}, options),
      StatusIs(absl::StatusCode::kCancelled, HasSubstr("killed by signal 9")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(ShellRunnerTest, AHandlerThatExitsZeroOnSigtermStillSucceeds) {
  ShellOptions options;
  options.should_stop = [] { return ShellStop::kGracefully; };
  EXPECT_THAT(RunShellCommand({.command = "trap 'exit 0' TERM; sleep 60 & "
                                          "wait"},
                              options),
              IsOk());
}

}  // namespace
}  // namespace qg_cli
