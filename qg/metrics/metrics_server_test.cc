#include "qg/metrics/metrics_server.h"

#include <atomic>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "qg/metrics/http_test_clients.h"
#include "qg/metrics/worker_metrics.h"
#include "qg/testing/status_matchers.h"

namespace qg {
namespace {

using ::qg_testing::StatusIs;
using ::testing::HasSubstr;

TEST(ParseListenAddressTest, AcceptsHostPortIpv6AndBarePort) {
  QG_ASSERT_OK_AND_ASSIGN(ListenAddress a,
                          ParseListenAddress("127.0.0.1:8080"));
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  QG_ASSERT_OK_AND_ASSIGN(a, ParseListenAddress("[::1]:0"));
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.ToString(), "[::1]:0");
  QG_ASSERT_OK_AND_ASSIGN(a, ParseListenAddress("9394"));
  EXPECT_EQ(a.ToString(), "127.0.0.1:9394");
}

TEST(ParseListenAddressTest, RefusesWhatIsNotAnAddress) {
  for (const char* bad : {"", ":80", "host:", "host:x", "host:70000", "::1:80",
                          "[::1]", "[]:80"}) {
    EXPECT_THAT(ParseListenAddress(bad).status(),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(MetricsServerTest, ServesTheTextOnGetMetricsOnly) {
  WorkerMetrics metrics;
  metrics.OnRoundTrip({.took = absl::Milliseconds(1), .buffered = 3});
  std::atomic<int> scrapes{0};
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<MetricsServer> server,
                          MetricsServer::Start({.listen = "127.0.0.1:0"}, [&] {
                            ++scrapes;
                            return metrics.Text();
                          }));
  ASSERT_GT(server->port(), 0);
  EXPECT_EQ(server->url(),
            "http://127.0.0.1:" + std::to_string(server->port()) + "/metrics");
  httplib::Client client("127.0.0.1", server->port());
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(res->body, HasSubstr("qg_jobs_buffered 3\n"));
  EXPECT_EQ(scrapes.load(), 1);
  httplib::Result other = client.Get("/");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  server->Stop();
  server->Stop();  // idempotent
}

TEST(MetricsServerTest, BusyPortIsUnavailable) {
  QG_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<MetricsServer> first,
      MetricsServer::Start({.listen = "127.0.0.1:0"}, [] { return ""; }));
  EXPECT_THAT(MetricsServer::Start(
                  {.listen = "127.0.0.1:" + std::to_string(first->port())},
                  [] { return ""; })
                  .status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(MetricsServerTest, StopRightAfterStartReturns) {
  for (int i = 0; i < 20; ++i) {
    QG_ASSERT_OK_AND_ASSIGN(
        std::unique_ptr<MetricsServer> s,
        MetricsServer::Start({.listen = "127.0.0.1:0"}, [] { return ""; }));
  }
}

// Regression (issue 17, defect 7): connections sending one header byte
// every half second held every thread of the server (httplib bounds each
// read, never a request), so a scrape was never answered.
TEST(MetricsServerTest, SlowClientsDribblingHeadersDoNotStarveScrapes) {
  QG_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<MetricsServer> server,
      MetricsServer::Start({.listen = "127.0.0.1:0"}, [] { return "up 1\n"; }));
  qg_testing::SlowClients slow(server->port(), 8);
  EXPECT_TRUE(qg_testing::EventuallyAnswered(server->port(), "/metrics"));
}

// Regression (issue 17): the worker's metrics server answered any Host, so
// a page of another site re-pointed at 127.0.0.1 (DNS rebinding) could read
// it; it now refuses them as the console does.
TEST(MetricsServerTest, RefusesHostNamesOnALoopbackAddress) {
  QG_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<MetricsServer> server,
      MetricsServer::Start({.listen = "127.0.0.1:0"}, [] { return "up 1\n"; }));
  httplib::Client client("127.0.0.1", server->port());
  httplib::Result r =
      client.Get("/metrics", {{"Host", "attacker.example:9394"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->body, HasSubstr("not allowed"));
  EXPECT_THAT(r->body, HasSubstr("attacker.example"));
  for (const char* host : {"localhost:9394", "127.0.0.1", "[::1]:9394"}) {
    r = client.Get("/metrics", {{"Host", host}});
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status, 200) << host;
  }
}

}  // namespace
}  // namespace qg
