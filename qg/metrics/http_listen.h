// qg/metrics/http_listen.h
// -----------------------------------------------------------------------------
//
// Listening with cpp-httplib the way qg-cpp's servers (the web console,
// `qg::MetricsServer`) do: "HOST:PORT" addresses (`ParseListenAddress()`),
// and `HttpListener`, which binds an `httplib::Server` without
// SO_REUSEPORT (httplib's default, under which a second server on a busy
// port silently shares it instead of failing), runs it on a thread of its
// own and stops it.
//
// Example:
//   httplib::Server server;
//   server.Get("/", ...);
//   QG_ASSIGN_OR_RETURN(qg::ListenAddress address,
//                       qg::ParseListenAddress("127.0.0.1:0"));
//   QG_ASSIGN_OR_RETURN(std::unique_ptr<qg::HttpListener> listener,
//                       qg::HttpListener::Start(&server, address));
//   listener->address().ToString();  // "127.0.0.1:41234"
#ifndef QG_METRICS_HTTP_LISTEN_H_
#define QG_METRICS_HTTP_LISTEN_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace qg {

// ListenAddress
struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0", a name
  int port = 0;      // 0: any free port

  // "127.0.0.1:8080", "[::1]:8080".
  std::string ToString() const;
};

// ParseListenAddress()
//
// "HOST:PORT" ("127.0.0.1:8080", "0.0.0.0:9394", "localhost:0"),
// "[IPV6]:PORT" ("[::1]:8080"), or a bare "PORT" (on 127.0.0.1). Port 0
// picks a free port. `InvalidArgument` otherwise.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text);

// HttpListener
//
// One `httplib::Server` listening on a thread of its own.
class HttpListener {
 public:
  // Start()
  //
  // Binds `server` (not owned; must outlive the listener) to `address`,
  // starts its accept loop on a new thread and returns once it runs. Port
  // in use, or a host it cannot bind → `Unavailable`.
  static absl::StatusOr<std::unique_ptr<HttpListener>> Start(
      httplib::Server* server, const ListenAddress& address);

  // Calls `Stop()`.
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Where it listens (the chosen port when the address said 0).
  const ListenAddress& address() const { return address_; }

  // Stops accepting, ends open connections' keep-alive and joins the
  // thread. Idempotent.
  void Stop();

 private:
  HttpListener() = default;

  httplib::Server* server_ = nullptr;
  ListenAddress address_;
  std::thread thread_;
};

}  // namespace qg

#endif  // QG_METRICS_HTTP_LISTEN_H_
