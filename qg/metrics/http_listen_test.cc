// Tests of HttpListener's front (deadlines, limits, keep-alive, reserved
// paths) and of CheckHost, over real sockets.
#include "qg/metrics/http_listen.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "qg/metrics/http_test_clients.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"

namespace qg {
namespace {

using ::qg_testing::EventuallyAnswered;
using ::qg_testing::RawHttp;
using ::qg_testing::SlowClients;
using ::qg_testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class HttpListenTest : public ::testing::Test {
 protected:
  HttpListenTest() {
    server_.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("home", "text/plain");
    });
    server_.Get("/metrics",
                [](const httplib::Request&, httplib::Response& res) {
                  res.set_content("up 1\n", "text/plain");
                });
    server_.Post(
        "/echo", [](const httplib::Request& req, httplib::Response& res) {
          res.set_content(absl::StrCat("body[", req.body, "]"), "text/plain");
        });
    // Holds its thread until `release_`.
    server_.Get("/slow",
                [this](const httplib::Request&, httplib::Response& res) {
                  ++slow_entered_;
                  while (!release_) absl::SleepFor(absl::Milliseconds(5));
                  res.set_content("slow", "text/plain");
                });
  }
  ~HttpListenTest() override {
    release_ = true;
    if (listener_ != nullptr) listener_->Stop();
  }

  void Listen(HttpListenOptions options = {}) {
    absl::StatusOr<std::unique_ptr<HttpListener>> l =
        HttpListener::Start(&server_, {"127.0.0.1", 0}, std::move(options));
    ASSERT_TRUE(l.ok()) << l.status();
    listener_ = std::move(*l);
  }
  int port() const { return listener_->address().port; }

  HttpServer server_;
  std::unique_ptr<HttpListener> listener_;
  std::atomic<bool> release_{false};
  std::atomic<int> slow_entered_{0};
};

TEST_F(HttpListenTest, AnswersRequestsOnKeptAliveConnections) {
  Listen();
  httplib::Client client("127.0.0.1", port());
  client.set_keep_alive(true);
  for (int i = 0; i < 5; ++i) {
    httplib::Result r = client.Get("/");
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "home");
  }
  httplib::Result r = client.Post("/echo", "hello", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "body[hello]");
  r = client.Get("/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(HttpListenTest, SlowClientsHoldNoThread) {
  Listen({.threads = 1});
  SlowClients slow(port(), 8, absl::Milliseconds(200),
                   "GET / HTTP/1.1\r\nX-Slow: ");
  EXPECT_TRUE(EventuallyAnswered(port(), "/"));
}

TEST_F(HttpListenTest, ARequestNotInByItsDeadlineIsClosedWith408) {
  Listen({.request_timeout = absl::Milliseconds(300)});
  std::string answer = RawHttp(port(), "GET / HTTP/1.1\r\nHost: x\r\nX-Sl");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 408"));
  // A connection that sends nothing at all is closed too.
  EXPECT_EQ(RawHttp(port(), ""), "");
}

TEST_F(HttpListenTest, SlowClientsAreClosedAndReconnectingDoesNotStarve) {
  Listen({.threads = 1, .request_timeout = absl::Milliseconds(300)});
  SlowClients slow(port(), 4, absl::Milliseconds(50),
                   "GET / HTTP/1.1\r\nX-Slow: ");
  EXPECT_TRUE(qg_testing::WaitFor([&] { return slow.closed_by_server() >= 4; },
                                  absl::Seconds(30)));
  EXPECT_TRUE(EventuallyAnswered(port(), "/"));
}

TEST_F(HttpListenTest, AnIdleKeptAliveConnectionIsClosed) {
  Listen({.idle_timeout = absl::Milliseconds(200)});
  // No "Connection: close": the answer comes, then the close, once idle.
  std::string answer = RawHttp(port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(answer, HasSubstr("home"));
}

TEST_F(HttpListenTest, APostWithoutContentLengthHasAnEmptyBody) {
  Listen();
  std::string answer = RawHttp(
      port(), "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(answer, HasSubstr("body[]"));
}

TEST_F(HttpListenTest, PipelinedRequestsAreAnsweredInOrder) {
  Listen();
  std::string answer = RawHttp(
      port(),
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nonePOST "
      "/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: "
      "close\r\n\r\ntwo");
  size_t one = answer.find("body[one]");
  size_t two = answer.find("body[two]");
  ASSERT_NE(one, std::string::npos) << answer;
  ASSERT_NE(two, std::string::npos) << answer;
  EXPECT_LT(one, two);
}

TEST_F(HttpListenTest, OversizedOrUnframedRequestsAreRefused) {
  Listen({.max_header_bytes = 1024, .max_body_bytes = 16});
  EXPECT_THAT(RawHttp(port(), "GET / HTTP/1.1\r\nX-Big: " +
                                  std::string(2000, 'a') + "\r\n\r\n"),
              StartsWith("HTTP/1.1 431"));
  EXPECT_THAT(
      RawHttp(port(), "POST /echo HTTP/1.1\r\nContent-Length: 17\r\n\r\n"),
      StartsWith("HTTP/1.1 413"));
  EXPECT_THAT(
      RawHttp(port(),
              "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
      StartsWith("HTTP/1.1 411"));
  EXPECT_THAT(
      RawHttp(port(), "POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
      StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(RawHttp(port(),
                      "POST /echo HTTP/1.1\r\nContent-Length: 1\r\n"
                      "Content-Length: 2\r\n\r\nab"),
              StartsWith("HTTP/1.1 400"));
  // Within the limits: answered.
  EXPECT_THAT(RawHttp(port(),
                      "POST /echo HTTP/1.1\r\nContent-Length: 16\r\n"
                      "Connection: close\r\n\r\n0123456789abcdef"),
              HasSubstr("body[0123456789abcdef]"));
}

TEST_F(HttpListenTest, AReservedPathIsAnsweredWhileEveryThreadIsBusy) {
  Listen({.threads = 2, .reserved_paths = {"/metrics"}});
  std::vector<std::thread> busy;
  for (int i = 0; i < 2; ++i) {
    busy.emplace_back([this] {
      httplib::Client c("127.0.0.1", port());
      c.set_read_timeout(std::chrono::seconds(60));
      c.Get("/slow");
    });
  }
  EXPECT_TRUE(qg_testing::WaitFor([&] { return slow_entered_ == 2; },
                                  absl::Seconds(30)));
  EXPECT_TRUE(EventuallyAnswered(port(), "/metrics"));
  release_ = true;
  for (std::thread& t : busy) t.join();
}

TEST_F(HttpListenTest, AtMaxConnectionsTheLongestWaitingIsClosed) {
  Listen({.threads = 1, .max_connections = 4});
  SlowClients slow(port(), 4, absl::Milliseconds(100),
                   "GET / HTTP/1.1\r\nX-Slow: ");
  EXPECT_TRUE(EventuallyAnswered(port(), "/"));
  EXPECT_TRUE(qg_testing::WaitFor([&] { return slow.closed_by_server() > 0; },
                                  absl::Seconds(30)));
}

TEST_F(HttpListenTest, StopReturnsWithConnectionsOpen) {
  Listen({.threads = 1});
  SlowClients slow(port(), 4, absl::Milliseconds(50),
                   "GET / HTTP/1.1\r\nX-Slow: ");
  httplib::Client keep("127.0.0.1", port());
  keep.set_keep_alive(true);
  ASSERT_TRUE(keep.Get("/"));
  listener_->Stop();
  listener_->Stop();  // idempotent
  EXPECT_EQ(RawHttp(port(), "GET / HTTP/1.1\r\n\r\n", absl::Seconds(1)), "");
}

TEST_F(HttpListenTest, BadOptionsAndABusyPortAreReported) {
  EXPECT_THAT(
      HttpListener::Start(&server_, {"127.0.0.1", 0}, {.threads = 0}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument));
  Listen();
  HttpServer other;
  EXPECT_THAT(HttpListener::Start(&other, {"127.0.0.1", port()}).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(HttpListener::Start(&other, {"192.0.2.1", 0}).status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(CheckHostTest, OnLoopbackOnlyIpAddressesAndLocalhost) {
  for (const char* listen : {"127.0.0.1", "::1", "localhost", "127.0.0.2"}) {
    ListenAddress a{listen, 8080};
    EXPECT_TRUE(a.loopback()) << listen;
    for (const char* ok : {"127.0.0.1:8080", "127.0.0.1", "[::1]:8080",
                           "localhost:8080", "LOCALHOST", "10.1.2.3:80"}) {
      EXPECT_TRUE(CheckHost(a, ok).ok()) << listen << " " << ok;
    }
    for (const char* bad : {"attacker.example:8080", "attacker.example", "",
                            "localhost.attacker.example"}) {
      EXPECT_THAT(CheckHost(a, bad),
                  StatusIs(absl::StatusCode::kPermissionDenied))
          << listen << " " << bad;
    }
  }
  EXPECT_THAT(CheckHost({"127.0.0.1", 8080}, "evil.example").message(),
              HasSubstr("http://127.0.0.1:8080/"));
  for (const char* listen : {"0.0.0.0", "10.0.0.1", "::", "queue.internal"}) {
    ListenAddress a{listen, 8080};
    EXPECT_FALSE(a.loopback()) << listen;
    EXPECT_TRUE(CheckHost(a, "queue.example.com").ok()) << listen;
  }
}

}  // namespace
}  // namespace qg
