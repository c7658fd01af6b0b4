// qg/metrics/http_test_clients.h
// -----------------------------------------------------------------------------
//
// Test clients of qg-cpp's HTTP servers (testonly): hostile ones that
// dribble a request's bytes (`SlowClients`, a slowloris), raw requests
// httplib's client would not send (`RawHttp`), and a patient well-behaved
// one (`EventuallyAnswered`).
//
// Example:
//   qg_testing::SlowClients slow(port, 8);  // 8 connections, never done
//   EXPECT_TRUE(qg_testing::EventuallyAnswered(port, "/metrics"));
#ifndef QG_METRICS_HTTP_TEST_CLIENTS_H_
#define QG_METRICS_HTTP_TEST_CLIENTS_H_

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace qg_testing {

// SlowClients
//
// Keeps `n` connections to 127.0.0.1:`port` open, each of which sent
// `start` and then sends one more header byte every `every`, never ending
// its headers; a connection the server closes is opened again. The
// constructor returns once all `n` have sent `start`; the destructor closes
// them.
class SlowClients {
 public:
  SlowClients(int port, int n, absl::Duration every = absl::Milliseconds(500),
              std::string start = "GET /metrics HTTP/1.1\r\nX-Slow: ");
  ~SlowClients();
  SlowClients(const SlowClients&) = delete;
  SlowClients& operator=(const SlowClients&) = delete;

  // How many connections the server closed (and were opened again).
  int closed_by_server() const { return closed_by_server_.load(); }

 private:
  int Open();
  void Dribble();

  const int port_;
  const absl::Duration every_;
  const std::string start_;
  std::vector<int> fds_;  // only the dribbling thread touches them
  std::atomic<bool> stop_{false};
  std::atomic<int> closed_by_server_{0};
  std::thread thread_;
};

// RawHttp()
//
// Sends `request` as it is to 127.0.0.1:`port` and returns what the server
// answers until it closes the connection or `timeout` passes ("" when it
// could not connect).
std::string RawHttp(int port, absl::string_view request,
                    absl::Duration timeout = absl::Seconds(30));

// EventuallyAnswered()
//
// GETs `path` from 127.0.0.1:`port` on a new connection, each try waiting
// up to 2 s for the answer, until one is answered 200 or `deadline` passes.
// Whether one was. `authorization`, when not empty, is sent as the
// Authorization header.
bool EventuallyAnswered(int port, const std::string& path,
                        absl::Duration deadline = absl::Seconds(30),
                        const std::string& authorization = "");

}  // namespace qg_testing

#endif  // QG_METRICS_HTTP_TEST_CLIENTS_H_
