#include "qg/metrics/metrics_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "qg/metrics/prometheus.h"

namespace qg {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    MetricsServerOptions options, std::function<std::string()> text) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress(options.listen);
  if (!address.ok()) return address.status();
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->server_ = std::make_unique<HttpServer>();
  s->server_->set_pre_routing_handler(
      [address = *address](const httplib::Request& req,
                           httplib::Response& res) {
        absl::Status host = CheckHost(address, req.get_header_value("Host"));
        if (host.ok()) return httplib::Server::HandlerResponse::Unhandled;
        res.status = 403;
        res.set_content(absl::StrCat(host.message(), "\n"),
                        "text/plain; charset=utf-8");
        return httplib::Server::HandlerResponse::Handled;
      });
  s->server_->Get("/metrics", [text = std::move(text)](const httplib::Request&,
                                                       httplib::Response& res) {
    res.set_content(text(), prometheus::kContentType);
  });
  absl::StatusOr<std::unique_ptr<HttpListener>> listener = HttpListener::Start(
      s->server_.get(), *address,
      {.threads = std::max(1, options.threads), .max_body_bytes = 0});
  if (!listener.ok()) return listener.status();
  s->listener_ = std::move(*listener);
  return s;
}

int MetricsServer::port() const { return listener_->address().port; }

MetricsServer::~MetricsServer() { Stop(); }

std::string MetricsServer::url() const {
  return absl::StrCat("http://", listener_->address().ToString(), "/metrics");
}

void MetricsServer::Stop() {
  if (listener_ != nullptr) listener_->Stop();
}

}  // namespace qg
