#include "qg/testing/latency_proxy.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace qg_testing {
namespace {

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// A sockaddr_un for `path`; an abstract name when it starts with '@'.
socklen_t Address(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  if (path[0] == '@') addr->sun_path[0] = '\0';
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                (path[0] == '@' ? 0 : 1));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LatencyProxy>> LatencyProxy::Start(
    const std::string& conninfo, absl::Duration delay,
    absl::Duration close_delay) {
  std::unique_ptr<LatencyProxy> p(new LatencyProxy);
  p->conninfo_ = conninfo;
  p->delay_ = delay;
  p->close_delay_ = close_delay;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    std::string message = err != nullptr ? err : "bad conninfo";
    PQfreemem(err);
    return absl::InvalidArgumentError(message);
  }
  std::string port = "5432";
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (std::strcmp(o->keyword, "host") == 0) p->target_host_ = o->val;
    if (std::strcmp(o->keyword, "port") == 0) port = o->val;
  }
  PQconninfoFree(opts);
  if (p->target_host_.empty() ||
      (p->target_host_[0] != '/' && p->target_host_[0] != '@') ||
      !absl::SimpleAtoi(port, &p->port_)) {
    return absl::InvalidArgumentError(
        "the proxy needs a conninfo with a Unix-socket host and a port");
  }
  char dir[] = "/tmp/qg-proxy-XXXXXX";
  if (mkdtemp(dir) == nullptr) return Errno("mkdtemp");
  p->dir_ = dir;
  p->listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (p->listen_fd_ < 0) return Errno("socket");
  sockaddr_un addr;
  socklen_t len = Address(absl::StrCat(p->dir_, "/.s.PGSQL.", p->port_), &addr);
  if (bind(p->listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return Errno("bind");
  }
  if (listen(p->listen_fd_, 64) != 0) return Errno("listen");
  p->accept_thread_ = std::thread([raw = p.get()] { raw->AcceptLoop(); });
  return p;
}

LatencyProxy::~LatencyProxy() {
  stop_ = true;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  // No connection is added after the accept thread ended.
  std::vector<int> fds;
  std::vector<std::thread> pumps;
  {
    qg::internal::MutexLock lock(mu_);
    fds.swap(fds_);
    pumps.swap(pumps_);
  }
  for (int fd : fds) shutdown(fd, SHUT_RDWR);
  for (std::thread& t : pumps) t.join();
  for (int fd : fds) close(fd);
  if (listen_fd_ >= 0) close(listen_fd_);
  unlink(absl::StrCat(dir_, "/.s.PGSQL.", port_).c_str());
  rmdir(dir_.c_str());
}

std::string LatencyProxy::Conninfo() const {
  // Later keywords win in a libpq conninfo string.
  return absl::StrCat(conninfo_, " host=", dir_, " port=", port_);
}

void LatencyProxy::AcceptLoop() {
  while (!stop_) {
    pollfd pfd = {listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr;
    socklen_t len =
        Address(absl::StrCat(target_host_, "/.s.PGSQL.", port_), &addr);
    if (server < 0 ||
        connect(server, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      close(client);
      if (server >= 0) close(server);
      continue;
    }
    qg::internal::MutexLock lock(mu_);
    fds_.push_back(client);
    fds_.push_back(server);
    pumps_.emplace_back([this, client, server] { Pump(client, server); });
    pumps_.emplace_back([this, client, server] { Pump(server, client); });
  }
}

void LatencyProxy::Pump(int from, int to) {
  char buf[65536];
  while (true) {
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0) break;
    absl::SleepFor(delay_);
    for (ssize_t done = 0; done < n;) {
      ssize_t w = send(to, buf + done, n - done, MSG_NOSIGNAL);
      if (w <= 0) {
        n = -1;
        break;
      }
      done += w;
    }
    if (n < 0) break;
  }
  ++closes_seen_;
  // The other end learns of the close `close_delay_` later (or when the
  // proxy stops).
  for (absl::Time until = absl::Now() + close_delay_;
       !stop_ && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  shutdown(to, SHUT_RDWR);
  shutdown(from, SHUT_RDWR);
}

}  // namespace qg_testing
