#include "qg/testing/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace qg_testing {
namespace {

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The test's environment with `changes` applied, as "NAME=value" strings.
std::vector<std::string> ChildEnvironment(
    const std::vector<std::pair<std::string, std::optional<std::string>>>&
        changes) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& [name, value] : changes) {
    std::string prefix = name + "=";
    std::erase_if(
        env, [&](const std::string& e) { return absl::StartsWith(e, prefix); });
    if (value.has_value()) env.push_back(prefix + *value);
  }
  return env;
}

// In the forked child: `path` opened with `flags` as descriptor `fd`.
void Redirect(const std::string& path, int flags, int fd) {
  if (path.empty()) return;
  int opened = open(path.c_str(), flags, 0644);
  if (opened < 0) _exit(127);
  dup2(opened, fd);
  close(opened);
}

}  // namespace

std::string RunfilePath(const std::string& path) {
  const char* workspace = getenv("TEST_WORKSPACE");
  std::string root = absl::StrCat(
      workspace != nullptr && *workspace != '\0' ? workspace : "qg_cpp", "/",
      path);
  if (const char* srcdir = getenv("TEST_SRCDIR"); srcdir != nullptr) {
    return absl::StrCat(srcdir, "/", root);
  }
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  self[n > 0 ? n : 0] = '\0';
  return absl::StrCat(self, ".runfiles/", root);
}

std::string TempPath(const std::string& name) {
  static std::atomic<int> n{0};
  const char* tmp = getenv("TEST_TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name, "-", getpid(),
                      "-", ++n);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

pid_t Spawn(const SpawnOptions& options) {
  std::vector<std::string> args = options.argv;
  std::vector<char*> argv = Pointers(args);
  std::vector<std::string> env = ChildEnvironment(options.env);
  std::vector<char*> envp = Pointers(env);
  int out[2] = {-1, -1};
  if (options.stdout_pipe != nullptr && pipe2(out, O_CLOEXEC) != 0) {
    out[0] = out[1] = -1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    Redirect(options.stdin_path, O_RDONLY, 0);
    if (out[1] >= 0) {
      dup2(out[1], 1);
    } else {
      Redirect(options.stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 1);
    }
    Redirect(options.stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 2);
    if (!args.empty()) execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (out[1] >= 0) close(out[1]);
  if (options.stdout_pipe != nullptr) *options.stdout_pipe = out[0];
  return pid;
}

int WaitStatus(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int Wait(pid_t pid) { return ExitCode(WaitStatus(pid)); }

std::optional<int> WaitAtMost(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return ExitCode(status);
    if (absl::Now() > deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  WaitStatus(pid);
}

bool Alive(pid_t pid) {
  std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() &&
         stat[paren + 2] != 'Z' && stat[paren + 2] != 'X';
}

bool DiesWithin(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (Alive(pid)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

}  // namespace qg_testing
