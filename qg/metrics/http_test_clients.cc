#include "qg/metrics/http_test_clients.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "absl/time/clock.h"
#include "httplib.h"

namespace qg_testing {
namespace {

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Whether the server closed `fd` (or reset it); reads and drops anything
// it answered.
bool ClosedByServer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

}  // namespace

SlowClients::SlowClients(int port, int n, absl::Duration every,
                         std::string start)
    : port_(port), every_(every), start_(std::move(start)) {
  for (int i = 0; i < n; ++i) fds_.push_back(Open());
  thread_ = std::thread([this] { Dribble(); });
}

SlowClients::~SlowClients() {
  stop_ = true;
  thread_.join();
  for (int fd : fds_) {
    if (fd >= 0) close(fd);
  }
}

int SlowClients::Open() {
  int fd = Connect(port_);
  if (fd >= 0 && !SendAll(fd, start_)) {
    close(fd);
    return -1;
  }
  return fd;
}

void SlowClients::Dribble() {
  while (!stop_) {
    for (int& fd : fds_) {
      if (fd >= 0 && (ClosedByServer(fd) || !SendAll(fd, "a"))) {
        ++closed_by_server_;
        close(fd);
        fd = -1;
      }
      if (fd < 0) fd = Open();
    }
    absl::Time next = absl::Now() + every_;
    while (!stop_ && absl::Now() < next) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
}

std::string RawHttp(int port, absl::string_view request,
                    absl::Duration timeout) {
  int fd = Connect(port);
  if (fd < 0) return "";
  std::string out;
  if (SendAll(fd, request)) {
    absl::Time deadline = absl::Now() + timeout;
    char buf[4096];
    while (absl::Now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      int left = static_cast<int>(
          absl::ToInt64Milliseconds(deadline - absl::Now()) + 1);
      if (poll(&p, 1, left) <= 0) continue;
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

bool EventuallyAnswered(int port, const std::string& path,
                        absl::Duration deadline,
                        const std::string& authorization) {
  absl::Time end = absl::Now() + deadline;
  httplib::Headers headers;
  if (!authorization.empty()) headers.emplace("Authorization", authorization);
  while (absl::Now() < end) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(std::chrono::seconds(2));
    client.set_read_timeout(std::chrono::seconds(2));
    client.set_write_timeout(std::chrono::seconds(2));
    if (httplib::Result r = client.Get(path.c_str(), headers);
        r && r->status == 200) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

}  // namespace qg_testing
