// qg/metrics/metrics_server.h
// -----------------------------------------------------------------------------
//
// `qg::MetricsServer`: a small HTTP server (cpp-httplib behind
// `qg::HttpListener`'s front) that answers `GET /metrics` with the text of a
// function you give it, for Prometheus to scrape a worker process (`qg work
// --metrics-listen`, or your own binary with `qg::WorkerMetrics`). Slow or
// idle clients never hold its threads (see qg/metrics/http_listen.h), and
// on a loopback address it answers only requests whose Host is an IP
// address or localhost (`qg::CheckHost()`, as the web console).
//
// Example:
//   qg::WorkerMetrics metrics;
//   QG_ASSIGN_OR_RETURN(
//       std::unique_ptr<qg::MetricsServer> server,
//       qg::MetricsServer::Start({.listen = "127.0.0.1:9394"},
//                                [&] { return metrics.Text(); }));
//   server->port();  // 9394
//   ...
//   server->Stop();  // or let it go out of scope
#ifndef QG_METRICS_METRICS_SERVER_H_
#define QG_METRICS_METRICS_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "qg/metrics/http_listen.h"

namespace qg {

// MetricsServerOptions
struct MetricsServerOptions {
  // Where to listen. Default: "127.0.0.1:9394" (loopback only: say
  // "0.0.0.0:9394" for a Prometheus on another host).
  std::string listen = "127.0.0.1:9394";
  // Threads answering requests. Default: 2.
  int threads = 2;
};

class MetricsServer {
 public:
  // Start()
  //
  // Listens on `options.listen` and answers `GET /metrics` with `text()`
  // (Content-Type text/plain; version=0.0.4), anything else with 404; a
  // foreign Host on a loopback address with 403, a request body with 413.
  // `text` is called on the server's threads, once per scrape: make it
  // cheap and thread-safe (`WorkerMetrics::Text()` is). A bad address →
  // `InvalidArgument`; a port in use or a host it cannot bind →
  // `Unavailable`.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      MetricsServerOptions options, std::function<std::string()> text);

  // Calls `Stop()`.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port it listens on (the chosen one when the address said 0).
  int port() const;

  // "http://HOST:PORT/metrics".
  std::string url() const;

  // Stops listening and waits for its thread. Idempotent.
  void Stop();

 private:
  MetricsServer() = default;

  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpListener> listener_;
};

}  // namespace qg

#endif  // QG_METRICS_METRICS_SERVER_H_
