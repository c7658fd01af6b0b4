// qg/metrics/prometheus.h
// -----------------------------------------------------------------------------
//
// The Prometheus text exposition format (version 0.0.4), written by hand
// and small: metric families with their HELP and TYPE lines, samples with
// escaped label values, and fixed-bucket histograms. Used by
// `qg::WorkerMetrics` (worker processes) and the web console's /metrics.
//
// Example:
//   qg::prometheus::TextWriter w;
//   w.Family("qg_jobs_completed_total", "Jobs completed.", "counter");
//   w.Sample("qg_jobs_completed_total", {{"queue", ""}, {"type", "Send"}}, 3);
//   w.text();
//   // # HELP qg_jobs_completed_total Jobs completed.
//   // # TYPE qg_jobs_completed_total counter
//   // qg_jobs_completed_total{queue="",type="Send"} 3
#ifndef QG_METRICS_PROMETHEUS_H_
#define QG_METRICS_PROMETHEUS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace qg::prometheus {

// The Content-Type of the text format.
inline constexpr char kContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// Labels
//
// A sample's labels, in the order written. Names must match
// [a-zA-Z_][a-zA-Z0-9_]* (the caller's constants); values are any text.
using Labels = std::vector<std::pair<std::string, std::string>>;

// EscapeLabelValue()
//
// A label value as the format requires it between its quotes: backslash,
// double quote and line feed escaped (`a"b\` → `a\"b\\`).
std::string EscapeLabelValue(absl::string_view value);

// FormatValue()
//
// A sample value: integers without a decimal point ("3"), others in the
// shortest form that reads back ("0.25"), "+Inf", "-Inf" and "NaN".
std::string FormatValue(double value);

// TextWriter
//
// Builds one exposition. Not thread-safe.
class TextWriter {
 public:
  // Family()
  //
  // Starts the family `name`: its "# HELP" line (backslashes and line feeds
  // in `help` escaped) and its "# TYPE" line (`type`: "counter", "gauge" or
  // "histogram"). Write each family once, before its samples.
  void Family(absl::string_view name, absl::string_view help,
              absl::string_view type);

  // Sample()
  //
  // One sample line: `name{labels} value`.
  void Sample(absl::string_view name, const Labels& labels, double value);

  // The text so far.
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Histogram
//
// Counts of observations at or below each bound (cumulative, as the format
// has them), their sum and count. Not thread-safe: guard it with its owner's
// lock.
class Histogram {
 public:
  // `bounds` ascending upper bounds (+Inf is implied); must outlive it.
  explicit Histogram(const std::vector<double>* bounds);

  // Observe()
  //
  // Adds one observation.
  void Observe(double value);

  // Write()
  //
  // The family's samples for this series: `name_bucket{labels,le="..."}` for
  // each bound and +Inf, `name_sum{labels}`, `name_count{labels}`. Write the
  // family line (type "histogram") first.
  void Write(TextWriter& writer, absl::string_view name,
             const Labels& labels) const;

  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  const std::vector<double>* bounds_;
  std::vector<uint64_t> buckets_;  // per bound, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace qg::prometheus

#endif  // QG_METRICS_PROMETHEUS_H_
