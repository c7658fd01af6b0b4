#include "qg/metrics/http_listen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "qg/internal/sync.h"

namespace qg {
namespace {

using SteadyClock = std::chrono::steady_clock;

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The host part of a Host header: "127.0.0.1:8080" → "127.0.0.1",
// "[::1]:8080" → "::1".
std::string HostOf(absl::string_view header) {
  if (absl::ConsumePrefix(&header, "[")) {
    return std::string(header.substr(0, header.find(']')));
  }
  return std::string(header.substr(0, header.find(':')));
}

int Millis(SteadyClock::duration d) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 60 * 60 * 1000));
}

SteadyClock::duration ToChrono(absl::Duration d) {
  return std::chrono::microseconds(absl::ToInt64Microseconds(d));
}

// Sends what it can of `data` without waiting.
void SendNow(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

const char* Reason(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Service Unavailable";
  }
}

// A response the front sends itself, then closes the connection.
void Refuse(int fd, int status, absl::string_view message) {
  std::string body = absl::StrCat(message, "\n");
  SendNow(fd, absl::StrCat("HTTP/1.1 ", status, " ", Reason(status),
                           "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                           "Content-Length: ",
                           body.size(), "\r\nConnection: close\r\n\r\n", body));
}

// Framing
//
// How far a connection's bytes make a request: still incomplete, complete
// (its first `length` bytes), or refused with `status` and `message`.
struct Framing {
  enum Kind { kIncomplete, kComplete, kRefused } kind = kIncomplete;
  size_t length = 0;
  std::string path;  // kComplete: the target without its query
  bool expects_continue = false;
  int status = 0;
  std::string message;
};

Framing Refused(int status, std::string message) {
  Framing f;
  f.kind = Framing::kRefused;
  f.status = status;
  f.message = std::move(message);
  return f;
}

// Reads the request line and headers at the start of `in` as far as they
// go: the body's length comes from Content-Length alone (a request
// without one has no body, RFC 9112 6.3; chunked bodies are refused).
Framing Frame(absl::string_view in, const HttpListenOptions& o) {
  size_t end = in.find("\r\n\r\n");
  if (end == absl::string_view::npos || end + 4 > o.max_header_bytes) {
    if (in.size() > o.max_header_bytes ||
        (end != absl::string_view::npos && end + 4 > o.max_header_bytes)) {
      return Refused(431, absl::StrCat("request line and headers exceed ",
                                       o.max_header_bytes, " bytes"));
    }
    return {};
  }
  std::vector<absl::string_view> lines =
      absl::StrSplit(in.substr(0, end), "\r\n");
  Framing f;
  std::vector<absl::string_view> request_line =
      absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
  if (request_line.size() >= 2) {
    absl::string_view target = request_line[1];
    f.path = std::string(target.substr(0, target.find('?')));
  }
  std::optional<uint64_t> length;
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
    absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      return Refused(411,
                     "send a request body with Content-Length (Transfer-"
                     "Encoding is not accepted)");
    }
    if (absl::EqualsIgnoreCase(name, "Expect")) {
      f.expects_continue = absl::EqualsIgnoreCase(value, "100-continue");
    }
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      uint64_t n = 0;
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(value, &n) ||
          (length.has_value() && *length != n)) {
        return Refused(400, "bad Content-Length");
      }
      length = n;
    }
  }
  if (length.value_or(0) > o.max_body_bytes) {
    return Refused(
        413, absl::StrCat("request body exceeds ", o.max_body_bytes, " bytes"));
  }
  f.length = end + 4 + length.value_or(0);
  f.kind = in.size() >= f.length ? Framing::kComplete : Framing::kIncomplete;
  return f;
}

// RequestStream
//
// The httplib stream of one request the front read in full: reads come
// from memory (then end), writes go to the socket within a deadline.
class RequestStream : public httplib::Stream {
 public:
  RequestStream(int fd, absl::string_view request,
                SteadyClock::time_point write_deadline)
      : fd_(fd), request_(request), deadline_(write_deadline) {}

  bool is_readable() const override { return pos_ < request_.size(); }
  bool is_writable() const override {
    return !failed_ && SteadyClock::now() < deadline_;
  }

  ssize_t read(char* ptr, size_t size) override {
    size_t n = std::min(size, request_.size() - pos_);
    std::copy_n(request_.data() + pos_, n, ptr);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (done < size && !failed_) {
      ssize_t n =
          send(fd_, ptr + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        SteadyClock::time_point now = SteadyClock::now();
        if (now < deadline_ && poll(&p, 1, Millis(deadline_ - now)) >= 0) {
          continue;
        }
      }
      failed_ = true;
    }
    return failed_ ? -1 : static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      Describe(a, ip, port);
    }
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      Describe(a, ip, port);
    }
  }

  // Not the socket: httplib would answer 500 to a descriptor past
  // FD_SETSIZE (it selects on it), and every read and write goes through
  // this stream anyway.
  socket_t socket() const override { return INVALID_SOCKET; }

  bool failed() const { return failed_; }

 private:
  static void Describe(const sockaddr_storage& a, std::string& ip, int& port) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
      inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
      port = ntohs(in->sin_port);
    } else if (a.ss_family == AF_INET6) {
      const auto* in = reinterpret_cast<const sockaddr_in6*>(&a);
      inet_ntop(AF_INET6, &in->sin6_addr, buf, sizeof(buf));
      port = ntohs(in->sin6_port);
    }
    ip = buf;
  }

  const int fd_;
  const absl::string_view request_;
  const SteadyClock::time_point deadline_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace

std::string ListenAddress::ToString() const {
  if (host.find(':') != std::string::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

bool ListenAddress::loopback() const {
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return buf[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    static const unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                0, 0, 0, 0, 0, 0, 0, 1};
    return std::equal(buf, buf + 16, kLoopback);
  }
  return false;
}

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text,
        "\" is not a listen address (HOST:PORT, [IPV6]:PORT or PORT, e.g. "
        "127.0.0.1:8080)"));
  };
  ListenAddress a;
  absl::string_view rest = text;
  absl::string_view port;
  if (absl::ConsumePrefix(&rest, "[")) {
    size_t close = rest.find(']');
    if (close == absl::string_view::npos || close == 0) return bad();
    a.host = std::string(rest.substr(0, close));
    rest = rest.substr(close + 1);
    if (!absl::ConsumePrefix(&rest, ":")) return bad();
    port = rest;
  } else if (size_t colon = rest.rfind(':'); colon != absl::string_view::npos) {
    a.host = std::string(rest.substr(0, colon));
    if (a.host.empty() || a.host.find(':') != std::string::npos) return bad();
    port = rest.substr(colon + 1);
  } else {
    a.host = "127.0.0.1";
    port = rest;
  }
  int p = 0;
  if (port.empty() || !absl::SimpleAtoi(port, &p) || p < 0 || p > 65535) {
    return bad();
  }
  a.port = p;
  return a;
}

absl::Status CheckHost(const ListenAddress& listening,
                       absl::string_view host_header) {
  if (!listening.loopback()) return absl::OkStatus();
  std::string host = HostOf(host_header);
  if (absl::EqualsIgnoreCase(host, "localhost") || IsIpLiteral(host)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "host \"", host,
      "\" not allowed: this server listens on a loopback address and "
      "answers only requests for an IP address or localhost (against DNS "
      "rebinding); open it as http://",
      listening.ToString(), "/"));
}

bool HttpServer::Answer(httplib::Stream& stream, bool close_connection,
                        bool& connection_closed) {
  return process_request(stream, close_connection, connection_closed, nullptr);
}

// HttpListener::Impl
//
// The front thread owns the listening socket and every connection waiting
// for (the rest of) a request; a complete request moves its connection to
// a lane's queue, whose threads answer it and hand the connection back.
class HttpListener::Impl {
 public:
  Impl(HttpServer* server, HttpListenOptions options)
      : server_(server), options_(std::move(options)) {}

  ~Impl() {
    Stop();
    if (listen_fd_ >= 0) close(listen_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  absl::Status Bind(const ListenAddress& address);
  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(stop_mu_, returned_mu_);
  const ListenAddress& address() const { return address_; }

 private:
  // A connection in the front.
  struct Conn {
    int fd = -1;
    std::string in;  // received, not yet answered
    // Since when it waits: its opening, its last answer, or (receiving)
    // the first byte of the request it is receiving.
    SteadyClock::time_point since;
    bool receiving = true;
    bool sent_continue = false;
  };
  // A complete request.
  struct Request {
    int fd = -1;
    std::string bytes;
    std::string rest;  // what the client sent after it (pipelining)
  };
  // Threads answering requests from one queue.
  struct Lane {
    internal::Mutex mu;
    internal::CondVar cv;  // a request was queued, or stop was set
    std::deque<Request> queue ABSL_GUARDED_BY(mu);
    bool stop ABSL_GUARDED_BY(mu) = false;
    std::vector<std::thread> threads;  // started by Start(), joined by Stop()
  };

  void Front();
  void Accept();
  void Receive(Conn& c);
  void Advance(Conn& c);
  void TakeReturned() ABSL_LOCKS_EXCLUDED(returned_mu_);
  SteadyClock::time_point Deadline(const Conn& c) const;
  void Dispatch(Conn& c, const Framing& f);
  void Work(Lane& lane);
  void Answer(Request r);
  void Return(int fd, std::string rest) ABSL_LOCKS_EXCLUDED(returned_mu_);
  void CloseFd(int fd);
  void Wake();

  HttpServer* const server_;
  const HttpListenOptions options_;
  ListenAddress address_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::set<std::string> reserved_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_{0};  // connections open, in the front or answered
  std::vector<Conn> conns_;   // the front thread's
  // Connections the answering threads hand back to the front (with what
  // their clients sent after the answered request).
  internal::Mutex returned_mu_;
  std::vector<std::pair<int, std::string>> returned_
      ABSL_GUARDED_BY(returned_mu_);
  Lane general_, reserved_lane_;
  std::thread front_;
  internal::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

absl::Status HttpListener::Impl::Bind(const ListenAddress& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  std::string port = absl::StrCat(address.port);
  auto unavailable = [&] {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address.ToString(),
                     " (in use, or not an address of this host)"));
  };
  if (getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found) != 0) {
    return unavailable();
  }
  for (addrinfo* ai = found; ai != nullptr && listen_fd_ < 0;
       ai = ai->ai_next) {
    int fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0) {
      listen_fd_ = fd;
    } else {
      close(fd);
    }
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) return unavailable();
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  address_ = address;
  address_.port =
      bound.ss_family == AF_INET6
          ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
          : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return absl::InternalError("eventfd failed");
  return absl::OkStatus();
}

void HttpListener::Impl::Start() {
  reserved_.insert(options_.reserved_paths.begin(),
                   options_.reserved_paths.end());
  for (int i = 0; i < options_.threads; ++i) {
    general_.threads.emplace_back([this] { Work(general_); });
  }
  if (!reserved_.empty()) {
    reserved_lane_.threads.emplace_back([this] { Work(reserved_lane_); });
  }
  front_ = std::thread([this] { Front(); });
}

void HttpListener::Impl::Stop() {
  {
    internal::MutexLock lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  stopping_ = true;
  Wake();
  if (front_.joinable()) front_.join();
  for (Lane* lane : {&general_, &reserved_lane_}) {
    {
      internal::MutexLock lock(lane->mu);
      lane->stop = true;
    }
    lane->cv.SignalAll();
    for (std::thread& t : lane->threads) t.join();
  }
  internal::MutexLock lock(returned_mu_);
  for (auto& [fd, rest] : returned_) CloseFd(fd);
  returned_.clear();
}

void HttpListener::Impl::Wake() {
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void HttpListener::Impl::CloseFd(int fd) {
  close(fd);
  --open_;
}

SteadyClock::time_point HttpListener::Impl::Deadline(const Conn& c) const {
  return c.since + ToChrono(c.receiving ? options_.request_timeout
                                        : options_.idle_timeout);
}

void HttpListener::Impl::Front() {
  std::vector<pollfd> fds;
  while (!stopping_) {
    TakeReturned();
    SteadyClock::time_point now = SteadyClock::now();
    SteadyClock::time_point next = now + std::chrono::hours(1);
    fds.assign({{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}});
    for (const Conn& c : conns_) {
      fds.push_back({c.fd, POLLIN, 0});
      next = std::min(next, Deadline(c));
    }
    if (poll(fds.data(), fds.size(), Millis(next - now)) < 0 &&
        errno != EINTR) {
      break;
    }
    if (stopping_) break;
    if (fds[0].revents != 0) {
      uint64_t count;
      (void)!read(wake_fd_, &count, sizeof(count));
    }
    // conns_[i] is fds[i + 2] until Accept() adds to the end.
    size_t polled = conns_.size();
    for (size_t i = 0; i < polled; ++i) {
      if (fds[i + 2].revents != 0) Receive(conns_[i]);
    }
    if (fds[1].revents != 0) Accept();
    now = SteadyClock::now();
    for (Conn& c : conns_) {
      if (c.fd < 0 || now < Deadline(c)) continue;
      if (c.receiving && !c.in.empty()) {
        Refuse(c.fd, 408,
               absl::StrCat("the request did not arrive within ",
                            absl::FormatDuration(options_.request_timeout)));
      }
      CloseFd(c.fd);
      c.fd = -1;
    }
    conns_.erase(std::remove_if(conns_.begin(), conns_.end(),
                                [](const Conn& c) { return c.fd < 0; }),
                 conns_.end());
  }
  close(listen_fd_);
  listen_fd_ = -1;
  for (Conn& c : conns_) CloseFd(c.fd);
  conns_.clear();
}

void HttpListener::Impl::Accept() {
  while (true) {
    int fd =
        accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // EAGAIN: none left; EMFILE etc.: next round
    ++open_;
    if (open_ > options_.max_connections) {
      // Make room: close the connection waiting longest without a
      // complete request.
      Conn* oldest = nullptr;
      for (Conn& c : conns_) {
        if (c.fd >= 0 && (oldest == nullptr || c.since < oldest->since)) {
          oldest = &c;
        }
      }
      if (oldest == nullptr) {
        Refuse(fd, 503, "too many connections; try again");
        CloseFd(fd);
        continue;
      }
      CloseFd(oldest->fd);
      oldest->fd = -1;
    }
    Conn c;
    c.fd = fd;
    c.since = SteadyClock::now();
    conns_.push_back(std::move(c));
  }
}

void HttpListener::Impl::Receive(Conn& c) {
  if (c.fd < 0) return;
  char buf[16 * 1024];
  while (true) {
    ssize_t n = recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      if (!c.receiving) {
        c.receiving = true;
        c.since = SteadyClock::now();
      }
      c.in.append(buf, static_cast<size_t>(n));
      if (c.in.size() > options_.max_header_bytes + options_.max_body_bytes) {
        break;  // enough to decide; Frame() refuses it
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    CloseFd(c.fd);  // closed by the client, or an error
    c.fd = -1;
    return;
  }
  Advance(c);
}

// Dispatches, refuses or keeps waiting for what `c` received.
void HttpListener::Impl::Advance(Conn& c) {
  Framing f = Frame(c.in, options_);
  switch (f.kind) {
    case Framing::kComplete:
      Dispatch(c, f);
      return;
    case Framing::kRefused:
      Refuse(c.fd, f.status, f.message);
      CloseFd(c.fd);
      c.fd = -1;
      return;
    case Framing::kIncomplete:
      if (f.expects_continue && !c.sent_continue) {
        SendNow(c.fd, "HTTP/1.1 100 Continue\r\n\r\n");
        c.sent_continue = true;
      }
      return;
  }
}

void HttpListener::Impl::Dispatch(Conn& c, const Framing& f) {
  Request r;
  r.fd = c.fd;
  r.bytes = c.in.substr(0, f.length);
  r.rest = c.in.substr(f.length);
  c.fd = -1;  // the lane's now
  Lane& lane = reserved_.count(f.path) > 0 ? reserved_lane_ : general_;
  {
    internal::MutexLock lock(lane.mu);
    lane.queue.push_back(std::move(r));
  }
  lane.cv.Signal();
}

void HttpListener::Impl::TakeReturned() {
  std::vector<std::pair<int, std::string>> back;
  {
    internal::MutexLock lock(returned_mu_);
    back.swap(returned_);
  }
  for (auto& [fd, rest] : back) {
    Conn c;
    c.fd = fd;
    c.in = std::move(rest);
    c.since = SteadyClock::now();
    c.receiving = !c.in.empty();
    if (c.receiving) Advance(c);
    if (c.fd >= 0) conns_.push_back(std::move(c));
  }
}

void HttpListener::Impl::Work(Lane& lane) {
  while (true) {
    Request r;
    {
      internal::MutexLock lock(lane.mu);
      while (!lane.stop && lane.queue.empty()) lane.cv.Wait(lock);
      if (lane.stop) {
        for (Request& left : lane.queue) CloseFd(left.fd);
        lane.queue.clear();
        return;
      }
      r = std::move(lane.queue.front());
      lane.queue.pop_front();
    }
    Answer(std::move(r));
  }
}

void HttpListener::Impl::Answer(Request r) {
  RequestStream stream(r.fd, r.bytes,
                       SteadyClock::now() + ToChrono(options_.write_timeout));
  bool close_connection = stopping_.load();
  bool closed = false;
  bool written = server_->Answer(stream, close_connection, closed);
  if (!written || closed || close_connection || stream.failed()) {
    CloseFd(r.fd);
    return;
  }
  Return(r.fd, std::move(r.rest));
}

void HttpListener::Impl::Return(int fd, std::string rest) {
  {
    internal::MutexLock lock(returned_mu_);
    returned_.emplace_back(fd, std::move(rest));
  }
  Wake();
}

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Start(
    HttpServer* server, const ListenAddress& address,
    HttpListenOptions options) {
  if (options.threads < 1 || options.max_connections < 1 ||
      options.request_timeout <= absl::ZeroDuration() ||
      options.idle_timeout <= absl::ZeroDuration() ||
      options.write_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "HttpListenOptions: threads and max_connections must be at least 1, "
        "and the timeouts positive");
  }
  auto impl = std::make_unique<Impl>(server, std::move(options));
  if (absl::Status s = impl->Bind(address); !s.ok()) return s;
  impl->Start();
  return std::unique_ptr<HttpListener>(new HttpListener(std::move(impl)));
}

HttpListener::HttpListener(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

HttpListener::~HttpListener() { Stop(); }

const ListenAddress& HttpListener::address() const { return impl_->address(); }

void HttpListener::Stop() { impl_->Stop(); }

}  // namespace qg
