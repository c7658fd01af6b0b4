// qg/metrics/limit_metrics.h
// -----------------------------------------------------------------------------
//
// Prometheus gauges of the flow-control limits (qg/limits.h), one series per
// limit, labelled by its name. They are database-wide: the web console's
// /metrics exports them from its cached snapshot (one read per refresh
// however many scrape), beside qg_queue_jobs; a program of your own can
// write them from `qg::ListLimits()` the same way. A worker process's
// `qg::WorkerMetrics` does not: each worker would report the same numbers.
//
// Example:
//   qg::PgExecutor exec(conn);
//   QG_ASSIGN_OR_RETURN(std::vector<qg::LimitInfo> limits,
//                       qg::ListLimits(exec, 10000));
//   qg::prometheus::TextWriter w;
//   qg::WriteLimitMetrics(w, limits);
//
// The metrics (gauges, `limit` the limit's name):
//   qg_limit_running{limit}         held jobs it applies to (running, or
//                                   locked ahead by a pool)
//   qg_limit_busiest_bucket{limit}  the most of those held in one bucket
//                                   (what a keyed limit's concurrency caps)
//   qg_limit_waiting{limit}         runnable jobs it applies to that nobody
//                                   holds (counted up to the reader's scan
//                                   bound: a lower bound past it)
//   qg_limit_waiting_capped{limit}  1 when that count stopped at the bound
//   qg_limit_concurrency{limit,per_pool}  its concurrency, when it has one
//                                   (per_pool="true": per worker pool)
//   qg_limit_rate{limit}            its rate: starts per rate period per
//                                   bucket, when it has one
//   qg_limit_rate_period_seconds{limit}  that period
#ifndef QG_METRICS_LIMIT_METRICS_H_
#define QG_METRICS_LIMIT_METRICS_H_

#include <vector>

#include "qg/limits.h"
#include "qg/metrics/prometheus.h"

namespace qg {

// WriteLimitMetrics()
//
// Writes the families of the file comment into `writer`, with one sample
// per limit of `limits` (the configured ones only for limits that have
// them). Each family's HELP and TYPE lines are written even when `limits`
// is empty.
void WriteLimitMetrics(prometheus::TextWriter& writer,
                       const std::vector<LimitInfo>& limits);

}  // namespace qg

#endif  // QG_METRICS_LIMIT_METRICS_H_
