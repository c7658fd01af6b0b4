#include "qg/metrics/http_listen.h"

#include <sys/socket.h>

#include <chrono>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "httplib.h"

namespace qg {

std::string ListenAddress::ToString() const {
  if (host.find(':') != std::string::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
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

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Start(
    httplib::Server* server, const ListenAddress& address) {
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  int port = address.port == 0 ? server->bind_to_any_port(address.host)
             : server->bind_to_port(address.host, address.port) ? address.port
                                                                : -1;
  if (port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address.ToString(),
                     " (in use, or not an address of this host)"));
  }
  std::unique_ptr<HttpListener> l(new HttpListener());
  l->server_ = server;
  l->address_ = address;
  l->address_.port = port;
  l->thread_ = std::thread([server] { server->listen_after_bind(); });
  // httplib's stop() does nothing until the loop runs: wait for it, so that
  // a Stop() right after Start() cannot leave the thread listening.
  while (!server->is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return l;
}

HttpListener::~HttpListener() { Stop(); }

void HttpListener::Stop() {
  if (server_ != nullptr && thread_.joinable()) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace qg
