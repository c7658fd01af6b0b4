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
  s->server_ = std::make_unique<httplib::Server>();
  int threads = std::max(1, options.threads);
  s->server_->new_task_queue = [threads] {
    return new httplib::ThreadPool(threads);
  };
  s->server_->Get("/metrics", [text = std::move(text)](const httplib::Request&,
                                                       httplib::Response& res) {
    res.set_content(text(), prometheus::kContentType);
  });
  absl::StatusOr<std::unique_ptr<HttpListener>> listener =
      HttpListener::Start(s->server_.get(), *address);
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
