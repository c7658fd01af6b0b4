#include "qg/metrics/limit_metrics.h"

#include "absl/time/time.h"

namespace qg {

void WriteLimitMetrics(prometheus::TextWriter& w,
                       const std::vector<LimitInfo>& limits) {
  auto labels = [](const LimitInfo& i) {
    return prometheus::Labels{{"limit", i.limit.name}};
  };
  w.Family("qg_limit_running",
           "Held jobs a flow-control limit applies to (running, or locked "
           "ahead by a pool).",
           "gauge");
  for (const LimitInfo& i : limits) {
    w.Sample("qg_limit_running", labels(i), static_cast<double>(i.running));
  }
  w.Family("qg_limit_busiest_bucket",
           "The most held jobs of a limit in one bucket (what a keyed "
           "limit's concurrency caps).",
           "gauge");
  for (const LimitInfo& i : limits) {
    w.Sample("qg_limit_busiest_bucket", labels(i),
             static_cast<double>(i.busiest));
  }
  w.Family("qg_limit_waiting",
           "Runnable jobs a limit applies to that nobody holds (a lower "
           "bound when qg_limit_waiting_capped is 1).",
           "gauge");
  for (const LimitInfo& i : limits) {
    w.Sample("qg_limit_waiting", labels(i), static_cast<double>(i.waiting));
  }
  w.Family("qg_limit_waiting_capped",
           "1 when qg_limit_waiting stopped at the scan's bound.", "gauge");
  for (const LimitInfo& i : limits) {
    w.Sample("qg_limit_waiting_capped", labels(i), i.waiting_capped ? 1 : 0);
  }
  w.Family("qg_limit_concurrency",
           "A limit's concurrency: jobs of a bucket held at once, across "
           "every pool or (per_pool=\"true\") per worker pool.",
           "gauge");
  for (const LimitInfo& i : limits) {
    if (!i.limit.concurrency) continue;
    prometheus::Labels l = labels(i);
    l.emplace_back("per_pool", i.limit.per_pool ? "true" : "false");
    w.Sample("qg_limit_concurrency", l, *i.limit.concurrency);
  }
  w.Family("qg_limit_rate",
           "A limit's rate: starts per rate period per bucket, across every "
           "pool.",
           "gauge");
  for (const LimitInfo& i : limits) {
    if (i.limit.rate) w.Sample("qg_limit_rate", labels(i), *i.limit.rate);
  }
  w.Family("qg_limit_rate_period_seconds", "The period of a limit's rate.",
           "gauge");
  for (const LimitInfo& i : limits) {
    if (!i.limit.rate) continue;
    w.Sample("qg_limit_rate_period_seconds", labels(i),
             absl::ToDoubleSeconds(i.limit.rate_period));
  }
}

}  // namespace qg
