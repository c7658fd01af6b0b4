#include "qg/metrics/worker_metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

PoolObserver::JobDone Done(absl::string_view queue, absl::string_view type,
                           JobEnd end, double latency_s, double run_s) {
  absl::Time run_at = absl::FromUnixSeconds(1000);
  absl::Time started = run_at + absl::Seconds(latency_s);
  return {queue, type, end, run_at, started, started + absl::Seconds(run_s)};
}

TEST(WorkerMetricsTest, CountsEachEndPerQueueAndType) {
  WorkerMetrics m;
  m.OnJobDone(Done("mail", "Send", JobEnd::kCompleted, 0.002, 0.01));
  m.OnJobDone(Done("mail", "Send", JobEnd::kCompleted, 0.002, 0.01));
  m.OnJobDone(Done("mail", "Send", JobEnd::kRetried, 0.002, 0.01));
  m.OnJobDone(Done("", "Other", JobEnd::kDead, 0.002, 0.01));
  m.OnJobDone(Done("", "Other", JobEnd::kReleased, 0.002, 0.01));
  std::string text = m.Text();
  EXPECT_THAT(text, HasSubstr("# TYPE qg_jobs_completed_total counter\n"));
  EXPECT_THAT(text,
              HasSubstr("qg_jobs_completed_total{queue=\"mail\",type=\"Send\"} "
                        "2\n"));
  EXPECT_THAT(
      text,
      HasSubstr("qg_jobs_failed_total{queue=\"mail\",type=\"Send\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("qg_jobs_dead_total{queue=\"\",type=\"Other\"} 1\n"));
  EXPECT_THAT(
      text, HasSubstr("qg_jobs_released_total{queue=\"\",type=\"Other\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("qg_jobs_completed_total{queue=\"\",type=\"Other\"} 0\n"));
}

TEST(WorkerMetricsTest, HistogramsOfQueueLatencyAndRunTimeInSeconds) {
  WorkerMetrics m;
  m.OnJobDone(Done("", "T", JobEnd::kCompleted, 0.003, 0.2));
  // Started before its run_at (clocks): counted as no wait, not negative.
  m.OnJobDone(Done("", "T", JobEnd::kCompleted, -1, 0.2));
  std::string text = m.Text();
  EXPECT_THAT(text, HasSubstr("# TYPE qg_job_queue_latency_seconds histogram"));
  EXPECT_THAT(text,
              HasSubstr("qg_job_queue_latency_seconds_bucket{queue=\"\",type="
                        "\"T\",le=\"0.001\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("qg_job_queue_latency_seconds_bucket{queue=\"\",type="
                        "\"T\",le=\"0.005\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qg_job_queue_latency_seconds_count{queue=\"\","
                              "type=\"T\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qg_job_run_seconds_bucket{queue=\"\",type=\"T\","
                              "le=\"0.25\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("qg_job_run_seconds_sum{queue=\"\",type=\"T\"} 0.4\n"));
}

TEST(WorkerMetricsTest, RoundTripsAndBufferedGauge) {
  WorkerMetrics m;
  m.OnRoundTrip({.took = absl::Microseconds(800), .locked = 5, .buffered = 7});
  m.OnRoundTrip({.took = absl::Milliseconds(3), .locked = 2, .buffered = 4});
  // A second lane (of this pool or another) with its own buffer: the gauge
  // is the sum of each lane's last report.
  m.OnRoundTrip({.took = absl::Milliseconds(3), .buffered = 9, .lane = 2});
  m.OnRoundTrip({.took = absl::Milliseconds(3), .buffered = 3, .lane = 2});
  std::string text = m.Text();
  EXPECT_THAT(text,
              HasSubstr("qg_locker_round_trip_seconds_bucket{le=\"0.001\"}"
                        " 1\n"));
  EXPECT_THAT(text, HasSubstr("qg_locker_round_trip_seconds_count 4\n"));
  EXPECT_THAT(text, HasSubstr("qg_locker_jobs_locked_total 7\n"));
  EXPECT_THAT(text,
              HasSubstr("# TYPE qg_jobs_buffered gauge\nqg_jobs_buffered 7\n"));
}

TEST(WorkerMetricsTest, EscapesLabelValuesFromJobs) {
  WorkerMetrics m;
  m.OnJobDone(Done("q\"1", "A\\B\nC", JobEnd::kCompleted, 0, 0));
  EXPECT_THAT(m.Text(),
              HasSubstr("qg_jobs_completed_total{queue=\"q\\\"1\",type=\"A\\\\B"
                        "\\nC\"} 1\n"));
}

TEST(WorkerMetricsTest, EmptyRegistryStillDescribesEveryFamily) {
  WorkerMetrics m;
  std::string text = m.Text();
  for (const char* family :
       {"qg_jobs_completed_total", "qg_jobs_failed_total", "qg_jobs_dead_total",
        "qg_job_queue_latency_seconds", "qg_job_run_seconds",
        "qg_locker_round_trip_seconds", "qg_jobs_buffered"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("# TYPE ", family, " ")));
  }
  EXPECT_THAT(text, Not(HasSubstr("{queue=")));
}

TEST(WorkerMetricsTest, CountsFromManyThreadsAddUp) {
  WorkerMetrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 1000; ++i) {
        m.OnJobDone(Done("", "T", JobEnd::kCompleted, 0.001, 0.001));
        m.OnRoundTrip({.took = absl::Microseconds(100), .locked = 1});
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::string text = m.Text();
  EXPECT_THAT(
      text, HasSubstr("qg_jobs_completed_total{queue=\"\",type=\"T\"} 4000\n"));
  EXPECT_THAT(text, HasSubstr("qg_locker_jobs_locked_total 4000\n"));
}

}  // namespace
}  // namespace qg
