#include "tools/qg/shell_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace qg_cli {

absl::Status RunShellCommand(const ShellCommand& cmd) {
  int in[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    return absl::InternalError("pipe failed");
  }
  std::vector<std::string> env_strings = cmd.env;
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(err[1], 2);
    for (std::string& e : env_strings) putenv(e.data());
    signal(SIGPIPE, SIG_DFL);
    execl("/bin/sh", "sh", "-c", cmd.command.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(err[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  const std::string& input = cmd.input;
  size_t written = 0;
  bool in_open = true;
  if (input.empty()) {
    close(in[1]);
    in_open = false;
  }
  std::string stderr_text;
  bool err_open = true;
  while (err_open) {
    struct pollfd fds[2] = {{err[0], POLLIN, 0},
                            {in_open ? in[1] : -1, POLLOUT, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in_open && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(in[1], input.data() + written, input.size() - written);
      if (n > 0) written += n;
      // EPIPE (the caller ignores SIGPIPE): the handler closed its stdin
      // without reading all of it, which is its right; the write is done.
      if (n < 0 && errno != EAGAIN) written = input.size();
      if (written == input.size()) {
        close(in[1]);
        in_open = false;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t n = read(err[0], buf, sizeof(buf));
      if (n <= 0) {
        err_open = false;
      } else {
        stderr_text.append(buf, n);
        if (stderr_text.size() > 65536) {
          stderr_text.erase(0, stderr_text.size() - 65536);
        }
      }
    }
  }
  if (in_open) close(in[1]);
  close(err[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  std::vector<std::string> lines = absl::StrSplit(
      absl::StripTrailingAsciiWhitespace(stderr_text), '\n', absl::SkipEmpty());
  size_t from = lines.size() > 10 ? lines.size() - 10 : 0;
  std::string tail = absl::StrJoin(lines.begin() + from, lines.end(), "\n");
  std::string how =
      WIFEXITED(status)
          ? absl::StrCat("exited with status ", WEXITSTATUS(status))
          : absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::UnknownError(tail.empty()
                                ? absl::StrCat("command ", how)
                                : absl::StrCat("command ", how, ": ", tail));
}

}  // namespace qg_cli
