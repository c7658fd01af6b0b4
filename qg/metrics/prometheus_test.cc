#include "qg/metrics/prometheus.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qg::prometheus {
namespace {

TEST(PrometheusTest, EscapesBackslashQuoteAndNewlineInLabelValues) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeLabelValue("plain {} = ,"), "plain {} = ,");
}

TEST(PrometheusTest, FormatsIntegersPlainAndOthersShortest) {
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(PrometheusTest, WritesFamilyHeaderThenSamples) {
  TextWriter w;
  w.Family("qg_x_total", "Help with \\ and\nnewline.", "counter");
  w.Sample("qg_x_total", {{"queue", ""}, {"type", "T\"1"}}, 2);
  w.Sample("qg_x_total", {}, 1.5);
  EXPECT_EQ(w.text(),
            "# HELP qg_x_total Help with \\\\ and\\nnewline.\n"
            "# TYPE qg_x_total counter\n"
            "qg_x_total{queue=\"\",type=\"T\\\"1\"} 2\n"
            "qg_x_total 1.5\n");
}

TEST(PrometheusTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  std::vector<double> bounds = {0.1, 1};
  Histogram h(&bounds);
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.5);
  h.Observe(7);
  TextWriter w;
  h.Write(w, "qg_h_seconds", {{"queue", "q"}});
  EXPECT_EQ(w.text(),
            "qg_h_seconds_bucket{queue=\"q\",le=\"0.1\"} 2\n"
            "qg_h_seconds_bucket{queue=\"q\",le=\"1\"} 3\n"
            "qg_h_seconds_bucket{queue=\"q\",le=\"+Inf\"} 4\n"
            "qg_h_seconds_sum{queue=\"q\"} 7.65\n"
            "qg_h_seconds_count{queue=\"q\"} 4\n");
}

}  // namespace
}  // namespace qg::prometheus
