// The per-limit gauges, from limits and their use read from a real
// database (a job's lock held by another session stands for a worker
// running it).
#include "qg/metrics/limit_metrics.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/executor.h"
#include "qg/limits.h"
#include "qg/metrics/prometheus.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"

namespace qg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class LimitMetricsTest : public qg_testing::DatabaseTest {
 protected:
  // Inserts a runnable job of `type` in `queue` with `args`; its id.
  int64_t Insert(const std::string& type, const std::string& queue = "",
                 const std::string& args = "[]") {
    return QueryInt(
        "INSERT INTO que_jobs (queue, job_class, args) VALUES ($1, $2, "
        "$3::json) RETURNING job_id",
        {queue, type, args});
  }

  // The gauges of the limits stored now.
  std::string Text() {
    PgExecutor exec(conn_.get());
    absl::StatusOr<std::vector<LimitInfo>> limits = ListLimits(exec, 10000);
    EXPECT_TRUE(limits.ok()) << limits.status();
    prometheus::TextWriter w;
    WriteLimitMetrics(w, limits.value_or(std::vector<LimitInfo>{}));
    return w.text();
  }
};

TEST_F(LimitMetricsTest, RunningWaitingAndTheConfiguredValuesPerLimit) {
  PgExecutor exec(conn_.get());
  QG_ASSERT_OK(SetLimit(exec, {.name = "mail",
                               .queue = "mail",
                               .concurrency = 2,
                               .rate = 100,
                               .rate_period = absl::Minutes(1)}));
  QG_ASSERT_OK(SetLimit(exec, {.name = "tenants",
                               .type = "Import",
                               .key_by = Limit::KeyBy::kArgs,
                               .key_args = {"tenant"},
                               .concurrency = 1,
                               .per_pool = true}));
  QG_ASSERT_OK(SetLimit(exec, {.name = "render",
                               .type = "Render",
                               .rate = 5,
                               .rate_period = absl::Milliseconds(500)}));
  int64_t m1 = Insert("Send", "mail");
  Insert("Send", "mail");
  Insert("Send", "mail");
  Insert("Send", "other");  // another queue: no limit of mail's
  int64_t a1 = Insert("Import", "", R"({"tenant":"a"})");
  int64_t a2 = Insert("Import", "", R"({"tenant":"a"})");
  int64_t b1 = Insert("Import", "", R"({"tenant":"b"})");
  Insert("Import", "", R"({"tenant":"c"})");
  PgConnPtr h1 = HoldJobLock(m1), h2 = HoldJobLock(a1), h3 = HoldJobLock(a2),
            h4 = HoldJobLock(b1);

  std::string text = Text();
  for (const char* family :
       {"qg_limit_running", "qg_limit_busiest_bucket", "qg_limit_waiting",
        "qg_limit_waiting_capped", "qg_limit_concurrency", "qg_limit_rate",
        "qg_limit_rate_period_seconds"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("# TYPE ", family, " gauge\n")));
  }
  EXPECT_THAT(text, HasSubstr("qg_limit_running{limit=\"mail\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("qg_limit_waiting{limit=\"mail\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qg_limit_running{limit=\"tenants\"} 3\n"));
  EXPECT_THAT(text,
              HasSubstr("qg_limit_busiest_bucket{limit=\"tenants\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qg_limit_waiting{limit=\"tenants\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("qg_limit_waiting_capped{limit=\"tenants\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("qg_limit_running{limit=\"render\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("qg_limit_concurrency{limit=\"mail\","
                              "per_pool=\"false\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("qg_limit_concurrency{limit=\"tenants\","
                              "per_pool=\"true\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("qg_limit_rate{limit=\"mail\"} 100\n"));
  EXPECT_THAT(text,
              HasSubstr("qg_limit_rate_period_seconds{limit=\"mail\"} 60\n"));
  EXPECT_THAT(text, HasSubstr("qg_limit_rate{limit=\"render\"} 5\n"));
  EXPECT_THAT(
      text, HasSubstr("qg_limit_rate_period_seconds{limit=\"render\"} 0.5\n"));
  // Only what is configured: render has no concurrency, tenants no rate.
  EXPECT_THAT(text, Not(HasSubstr("qg_limit_concurrency{limit=\"render\"")));
  EXPECT_THAT(text, Not(HasSubstr("qg_limit_rate{limit=\"tenants\"")));

  // The jobs end: nothing held, nothing waiting.
  h1.reset();
  h2.reset();
  h3.reset();
  h4.reset();
  Query("DELETE FROM que_jobs RETURNING 1");
  text = Text();
  EXPECT_THAT(text, HasSubstr("qg_limit_running{limit=\"tenants\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("qg_limit_waiting{limit=\"mail\"} 0\n"));
}

TEST_F(LimitMetricsTest, WaitingSaysWhenItStoppedAtTheScanBound) {
  PgExecutor exec(conn_.get());
  QG_ASSERT_OK(SetLimit(exec, {.name = "all", .concurrency = 0}));
  for (int i = 0; i < 5; ++i) Insert("Send");
  QG_ASSERT_OK_AND_ASSIGN(std::vector<LimitInfo> limits, ListLimits(exec, 3));
  prometheus::TextWriter w;
  WriteLimitMetrics(w, limits);
  EXPECT_THAT(w.text(), HasSubstr("qg_limit_waiting{limit=\"all\"} 3\n"));
  EXPECT_THAT(w.text(),
              HasSubstr("qg_limit_waiting_capped{limit=\"all\"} 1\n"));
  EXPECT_THAT(w.text(), HasSubstr("qg_limit_concurrency{limit=\"all\","
                                  "per_pool=\"false\"} 0\n"));
}

TEST_F(LimitMetricsTest, LimitNamesAreEscapedAsLabelValues) {
  PgExecutor exec(conn_.get());
  const std::string name = "a\"b\\c {x=\"1\"}";
  QG_ASSERT_OK(SetLimit(exec, {.name = name, .concurrency = 3}));
  std::string text = Text();
  EXPECT_THAT(
      text,
      HasSubstr("qg_limit_running{limit=\"a\\\"b\\\\c {x=\\\"1\\\"}\"} 0\n"));
  EXPECT_THAT(
      text,
      HasSubstr("qg_limit_concurrency{limit=\"a\\\"b\\\\c {x=\\\"1\\\"}\","
                "per_pool=\"false\"} 3\n"));
}

TEST_F(LimitMetricsTest, NoLimitsStillDescribesEveryFamily) {
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("# TYPE qg_limit_running gauge\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE qg_limit_concurrency gauge\n"));
  EXPECT_THAT(text, Not(HasSubstr("{limit=")));
}

}  // namespace
}  // namespace qg
