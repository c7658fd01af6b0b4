// qg/metrics/http_listen.h
// -----------------------------------------------------------------------------
//
// Serving HTTP with cpp-httplib the way qg-cpp's servers (the web console,
// `qg::MetricsServer`) do: "HOST:PORT" addresses (`ParseListenAddress()`),
// the Host check against DNS rebinding (`CheckHost()`), and
// `HttpListener`, which serves an `HttpServer` (an `httplib::Server` whose
// routes you set as usual) behind a front of its own.
//
// Why a front: httplib gives each connection a thread from the start, and
// bounds only each read (5 s), never a whole request, so a few clients
// sending one header byte every second hold every thread, unauthenticated
// (a token is checked only once the headers are in). The listener's front
// thread accepts every connection and reads each request (line, headers,
// body) with one poll() loop, within `request_timeout` of its first byte
// and within size limits; only a complete request reaches a thread, where
// httplib parses, routes and answers it from memory, and a response must
// be written within `write_timeout`. Kept-alive connections wait in the
// front, not on a thread. At `max_connections` the connection that has
// waited longest without a complete request is closed for the new one.
// Paths named in `reserved_paths` (the console's /metrics) are answered
// on a thread of their own, so slow answers elsewhere never delay them.
//
// Example:
//   qg::HttpServer server;
//   server.Get("/", ...);
//   QG_ASSIGN_OR_RETURN(qg::ListenAddress address,
//                       qg::ParseListenAddress("127.0.0.1:0"));
//   QG_ASSIGN_OR_RETURN(std::unique_ptr<qg::HttpListener> listener,
//                       qg::HttpListener::Start(&server, address));
//   listener->address().ToString();  // "127.0.0.1:41234"
#ifndef QG_METRICS_HTTP_LISTEN_H_
#define QG_METRICS_HTTP_LISTEN_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "httplib.h"

namespace qg {

// ListenAddress
struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0", a name
  int port = 0;      // 0: any free port

  // "127.0.0.1:8080", "[::1]:8080".
  std::string ToString() const;

  // Whether `host` is a loopback address (127.0.0.0/8, ::1) or "localhost".
  bool loopback() const;
};

// ParseListenAddress()
//
// "HOST:PORT" ("127.0.0.1:8080", "0.0.0.0:9394", "localhost:0"),
// "[IPV6]:PORT" ("[::1]:8080"), or a bare "PORT" (on 127.0.0.1). Port 0
// picks a free port. `InvalidArgument` otherwise.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text);

// CheckHost()
//
// The DNS rebinding defence of a server listening on `listening`: on a
// loopback address, only requests whose Host header (`host_header`, e.g.
// "127.0.0.1:8080", "[::1]:8080", "localhost") names an IP address or
// localhost are answered, so that a page of another site whose name was
// re-pointed at 127.0.0.1 cannot read the server. Anything goes on other
// addresses. `PermissionDenied` with a message saying what to open instead.
absl::Status CheckHost(const ListenAddress& listening,
                       absl::string_view host_header);

// HttpListenOptions
struct HttpListenOptions {
  // Threads answering complete requests (at least 1). Default: 4.
  int threads = 4;
  // Paths (exact, without the query; e.g. "/metrics") answered on one
  // thread of their own besides `threads`. Default: none.
  std::vector<std::string> reserved_paths;
  // A request's line, headers and body must all arrive within this of its
  // first byte (of the connection's opening, for its first request), or
  // the connection is closed (408). Default: 10s.
  absl::Duration request_timeout = absl::Seconds(10);
  // A kept-alive connection without a request is closed after this.
  // Default: 5s.
  absl::Duration idle_timeout = absl::Seconds(5);
  // A response must be written within this, or the connection is closed.
  // Default: 10s.
  absl::Duration write_timeout = absl::Seconds(10);
  // Open connections at most (at least 1), those being answered included.
  // At the limit, the connection waiting longest without a complete request
  // is closed to make room; when every one is being answered, the new one
  // is. Default: 256.
  int max_connections = 256;
  // The request line and headers at most (431 beyond). Default: 16 KiB.
  size_t max_header_bytes = 16 * 1024;
  // A request body at most (413 beyond). Default: 64 KiB.
  size_t max_body_bytes = 64 * 1024;
};

// HttpServer
//
// An `httplib::Server` for `HttpListener`: set its routes, handlers and
// headers as usual; its own listen(), thread pool, timeouts and payload
// limit are not used (the listener's options are).
class HttpServer : public httplib::Server {
 public:
  // Answer()
  //
  // Parses, routes and answers the one request `stream` holds (httplib's
  // own request processing). `connection_closed` is set when the request
  // asked to close (Connection: close, HTTP/1.0). False when the response
  // could not be written.
  bool Answer(httplib::Stream& stream, bool close_connection,
              bool& connection_closed);
};

// HttpListener
//
// One `HttpServer` served by a front thread and threads of its own (see
// the file comment).
class HttpListener {
 public:
  // Start()
  //
  // Binds `address` (without SO_REUSEPORT, so a busy port fails instead of
  // being shared), starts the front and the answering threads, and returns
  // once it accepts. `server` is not owned and must outlive the listener.
  // Bad options → `InvalidArgument`; port in use, or a host it cannot bind
  // → `Unavailable`.
  static absl::StatusOr<std::unique_ptr<HttpListener>> Start(
      HttpServer* server, const ListenAddress& address,
      HttpListenOptions options = {});

  // Calls `Stop()`.
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Where it listens (the chosen port when the address said 0).
  const ListenAddress& address() const;

  // Stops accepting, closes the connections waiting in the front, lets the
  // requests being answered finish (their connections then close) and
  // joins every thread. Idempotent.
  void Stop();

 private:
  class Impl;
  explicit HttpListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg

#endif  // QG_METRICS_HTTP_LISTEN_H_
