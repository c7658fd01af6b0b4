#include "tools/qg/shell_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

extern char** environ;

namespace qg_cli {
namespace {

constexpr size_t kStderrKeep = 64 * 1024;
constexpr int kTailLines = 10;

// A file descriptor closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    Reset();
    fd_ = o.fd_;
    o.fd_ = -1;
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A close-on-exec pipe whose ends are not 0, 1 or 2 (so that dup2 onto the
// child's stdin/stderr never meets the same number).
absl::Status Pipe(Fd& read_end, Fd& write_end) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  for (int& fd : p) {
    if (fd < 3) {
      int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
      close(fd);
      fd = moved;
    }
  }
  read_end = Fd(p[0]);
  write_end = Fd(p[1]);
  if (!read_end.open() || !write_end.open()) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  return absl::OkStatus();
}

// The environment: ours, with `extra` NAME=VALUE entries added or replacing.
std::vector<std::string> Environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  auto name_of = [](absl::string_view e) { return e.substr(0, e.find('=')); };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    bool replaced = std::any_of(extra.begin(), extra.end(), [&](const auto& x) {
      return name_of(x) == name_of(entry);
    });
    if (!replaced) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// Starts /bin/sh -c `command` in a new process group, stdin and stderr from
// the given descriptors, with an empty signal mask and default dispositions.
absl::StatusOr<pid_t> Spawn(const std::string& command,
                            const std::vector<std::string>& env, int stdin_fd,
                            int stderr_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig = 1; sig < 32; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaddset(&defaults, sig);
  }
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);  // a group of its own, id = its pid
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  std::vector<std::string> argv_s = {"sh", "-c", command};
  std::vector<char*> argv, envp;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_copy = env;
  for (std::string& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  int err =
      posix_spawn(&pid, "/bin/sh", &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    return absl::InternalError(
        absl::StrCat("cannot start /bin/sh: ", strerror(err)));
  }
  return pid;
}

// Whether `pid` has exited, without reaping it: while it is an unreaped
// zombie its pid, and so its process group's id, cannot be reused, so
// killing the group afterwards never hits a stranger.
bool Exited(pid_t pid) {
  siginfo_t info;
  info.si_pid = 0;
  if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno != EINTR;  // ECHILD: gone already
  }
  return info.si_pid == pid;
}

// A descriptor that polls readable when `pid` exits (-1 on kernels without
// pidfd_open, where the loop polls on a short timer instead).
Fd PidFd(pid_t pid) {
#ifdef SYS_pidfd_open
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Fd(fd);
#else
  return Fd(-1);
#endif
}

void AppendCapped(std::string& text, const char* data, size_t n) {
  text.append(data, n);
  if (text.size() > kStderrKeep) text.erase(0, text.size() - kStderrKeep);
}

std::string Tail(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(
      absl::StripTrailingAsciiWhitespace(text), '\n', absl::SkipEmpty());
  size_t from = lines.size() > kTailLines ? lines.size() - kTailLines : 0;
  return absl::StrJoin(lines.begin() + from, lines.end(), "\n");
}

// ShellProcess
//
// One run of a handler: `Start()` spawns it; `WaitForExit()` feeds its
// stdin, collects its stderr and obeys stop requests until it exits;
// `Finish()` drains its stderr for a moment, kills what is left of its
// group, reaps it and says how it ended.
class ShellProcess {
 public:
  explicit ShellProcess(const ShellCommand& cmd) : cmd_(cmd) {}
  ShellProcess(const ShellProcess&) = delete;
  ShellProcess& operator=(const ShellProcess&) = delete;

  // Starts /bin/sh -c with the command's stdin and stderr on non-blocking
  // pipes of ours.
  absl::Status Start() {
    Fd in_read, err_write;
    if (absl::Status s = Pipe(in_read, in_write_); !s.ok()) return s;
    if (absl::Status s = Pipe(err_read_, err_write); !s.ok()) return s;
    absl::StatusOr<pid_t> spawned = Spawn(cmd_.command, Environment(cmd_.env),
                                          in_read.get(), err_write.get());
    if (!spawned.ok()) return spawned.status();
    pid_ = *spawned;
    in_read.Reset();
    err_write.Reset();
    fcntl(in_write_.get(), F_SETFL, O_NONBLOCK);
    fcntl(err_read_.get(), F_SETFL, O_NONBLOCK);
    pidfd_ = PidFd(pid_);
    if (cmd_.input.empty()) in_write_.Reset();
    return absl::OkStatus();
  }

  // Until the handler exits: feeds stdin, collects stderr, obeys
  // `options.should_stop`.
  absl::Status WaitForExit(const ShellOptions& options) {
    while (!Exited(pid_)) {
      struct pollfd fds[3] = {{pidfd_.get(), POLLIN, 0},
                              {err_read_.get(), POLLIN, 0},
                              {in_write_.get(), POLLOUT, 0}};
      if (poll(fds, 3, PollTimeoutMs(options)) < 0 && errno != EINTR) {
        return absl::InternalError(absl::StrCat("poll: ", strerror(errno)));
      }
      if (in_write_.open() &&
          (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
        WriteStdin();
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) ReadStderr();
      Obey(options.should_stop ? options.should_stop() : ShellStop::kNo,
           options.kill_after);
    }
    return absl::OkStatus();
  }

  // Exited: what it wrote is in the pipe; a background process it left may
  // still hold stderr open, so reads only for `drain`, then kills what is
  // left of its group (the group id is still reserved by the unreaped
  // handler), reaps it, and returns how it ended (`RunShellCommand`).
  absl::Status Finish(absl::Duration drain) {
    in_write_.Reset();
    absl::Time drain_until = absl::Now() + drain;
    ReadStderr();
    while (err_read_.open() && absl::Now() < drain_until) {
      struct pollfd fd = {err_read_.get(), POLLIN, 0};
      int ms = static_cast<int>(absl::ToInt64Milliseconds(
          drain_until - absl::Now() + absl::Microseconds(999)));
      if (poll(&fd, 1, std::max(ms, 0)) > 0) ReadStderr();
    }
    kill(-pid_, SIGKILL);
    int status = 0;
    pid_t reaped;
    while ((reaped = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    if (reaped != pid_) {
      return absl::InternalError(
          absl::StrCat("lost track of the command (waitpid: ", strerror(errno),
                       "); is SIGCHLD ignored?"));
    }
    return Outcome(status);
  }

 private:
  // How long one poll may wait: for the next `should_stop` question, the
  // SIGKILL due, or (without a pidfd) the next look at the handler.
  int PollTimeoutMs(const ShellOptions& options) const {
    absl::Duration wait =
        options.should_stop ? options.poll_interval : absl::InfiniteDuration();
    if (!pidfd_.open()) wait = std::min(wait, absl::Milliseconds(10));
    if (kill_at_ != absl::InfiniteFuture()) {
      wait = std::min(wait,
                      std::max(absl::ZeroDuration(), kill_at_ - absl::Now()));
    }
    if (wait == absl::InfiniteDuration()) return -1;
    return static_cast<int>(
        absl::ToInt64Milliseconds(wait + absl::Microseconds(999)));
  }

  // Writes what the pipe takes of the rest of the input; closes stdin when
  // all is written or the handler closed it.
  void WriteStdin() {
    const std::string& input = cmd_.input;
    ssize_t n = write(in_write_.get(), input.data() + written_,
                      input.size() - written_);
    if (n > 0) written_ += static_cast<size_t>(n);
    // EPIPE (the caller ignores SIGPIPE): the handler closed its stdin
    // without reading all of it, which is its right; the write is done.
    if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
        written_ == input.size()) {
      in_write_.Reset();
    }
  }

  // Reads what stderr holds now (the last kStderrKeep bytes are kept);
  // closes it at its end.
  void ReadStderr() {
    char buf[4096];
    while (err_read_.open()) {
      ssize_t n = read(err_read_.get(), buf, sizeof(buf));
      if (n > 0) {
        AppendCapped(stderr_text_, buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        err_read_.Reset();  // EOF: nobody holds it any more
      } else {
        break;
      }
    }
  }

  // Signals the group as `stop` asks (SIGTERM then, `kill_after` later,
  // SIGKILL; or SIGKILL at once), each signal once.
  void Obey(ShellStop stop, absl::Duration kill_after) {
    if (stop == ShellStop::kNow && stop_signal_ != SIGKILL) {
      kill(-pid_, SIGKILL);
      stop_signal_ = SIGKILL;
    } else if (stop == ShellStop::kGracefully && !stop_signal_.has_value()) {
      kill(-pid_, SIGTERM);
      stop_signal_ = SIGTERM;
      kill_at_ = absl::Now() + kill_after;
    }
    if (stop_signal_ == SIGTERM && absl::Now() >= kill_at_) {
      kill(-pid_, SIGKILL);
      stop_signal_ = SIGKILL;
      kill_at_ = absl::InfiniteFuture();
    }
  }

  // How the handler ended, from its wait `status`.
  absl::Status Outcome(int status) const {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
    std::string tail = Tail(stderr_text_);
    std::string how =
        WIFEXITED(status)
            ? absl::StrCat("exited with status ", WEXITSTATUS(status))
            : absl::StrCat("killed by signal ", WTERMSIG(status));
    std::string message = absl::StrCat(
        "command ", stop_signal_.has_value() ? "stopped by qg: " : "", how,
        tail.empty() ? "" : ": ", tail);
    if (stop_signal_.has_value()) return absl::CancelledError(message);
    return absl::UnknownError(message);
  }

  const ShellCommand& cmd_;
  pid_t pid_ = 0;  // also its process group's id
  Fd in_write_, err_read_, pidfd_;
  size_t written_ = 0;  // of cmd_.input
  std::string stderr_text_;
  std::optional<int> stop_signal_;               // what we sent, if anything
  absl::Time kill_at_ = absl::InfiniteFuture();  // after SIGTERM: SIGKILL
};

}  // namespace

absl::Status RunShellCommand(const ShellCommand& cmd,
                             const ShellOptions& options) {
  ShellProcess process(cmd);
  if (absl::Status s = process.Start(); !s.ok()) return s;
  if (absl::Status s = process.WaitForExit(options); !s.ok()) return s;
  return process.Finish(options.drain);
}

}  // namespace qg_cli
