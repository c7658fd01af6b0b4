// qg/metrics/worker_metrics.h
// -----------------------------------------------------------------------------
//
// `qg::WorkerMetrics`: a `PoolObserver` that keeps a worker process's
// Prometheus metrics, to serve from /metrics (`qg::MetricsServer`, or your
// own HTTP server through `Text()`). Counting is a map lookup under a mutex
// per job and per locker round trip; nothing touches the database.
//
// Example:
//   qg::WorkerMetrics metrics;
//   qg::WorkerOptions options;
//   options.observer = &metrics;
//   qg::WorkerPool pool(client.get(), &work_map, 8, options);
//   QG_ASSIGN_OR_RETURN(std::unique_ptr<qg::MetricsServer> server,
//                       qg::MetricsServer::Start({.listen = "127.0.0.1:9394"},
//                                                [&] { return metrics.Text();
//                                                }));
//
// The metrics (counters and histograms per queue and type, `queue=""` being
// the default queue):
//   qg_jobs_completed_total{queue,type}   jobs that succeeded (deleted)
//   qg_jobs_failed_total{queue,type}      jobs that failed and will retry
//   qg_jobs_dead_total{queue,type}        jobs that failed out of attempts
//   qg_jobs_snoozed_total{queue,type}     jobs rescheduled by their handler
//   qg_jobs_cancelled_total{queue,type}   jobs an operator cancelled
//   qg_jobs_released_total{queue,type}    jobs left to run again (shutdown,
//                                         a lost lock)
//   qg_job_queue_latency_seconds{queue,type}  histogram: start - run_at
//   qg_job_run_seconds{queue,type}        histogram: handler start to end
//   qg_locker_round_trip_seconds          histogram: fast path round trips
//   qg_locker_jobs_locked_total           jobs the locker session locked
//   qg_jobs_buffered                      gauge: jobs locked ahead, waiting
//                                         for a worker (fast path; over
//                                         every lane of every pool)
//
// Database-wide gauges are not here (every worker would report the same
// numbers): the web console's /metrics has the queue depths and, per
// flow-control limit, qg_limit_running, qg_limit_waiting,
// qg_limit_concurrency, qg_limit_rate and the rest of
// qg/metrics/limit_metrics.h (`qg::WriteLimitMetrics()`).
#ifndef QG_METRICS_WORKER_METRICS_H_
#define QG_METRICS_WORKER_METRICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "qg/internal/sync.h"
#include "qg/job_end.h"
#include "qg/metrics/prometheus.h"
#include "qg/worker/pool_observer.h"

namespace qg {

// WorkerMetricsOptions
//
// Histogram bucket bounds in seconds, ascending (+Inf is implied).
struct WorkerMetricsOptions {
  // Default: 1 ms .. 1 h.
  std::vector<double> queue_latency_buckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
      1,     2.5,    5,     10,   30,    60,   300, 900,  3600};
  // Default: 0.5 ms .. 10 min.
  std::vector<double> run_buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                     5,      10,    30,     60,    300,  600};
  // Default: 0.1 ms .. 30 s.
  std::vector<double> round_trip_buckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      5,     30};
};

class WorkerMetrics : public PoolObserver {
 public:
  explicit WorkerMetrics(WorkerMetricsOptions options = {});
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // PoolObserver: called by the pool's threads.
  void OnRoundTrip(const RoundTrip& round_trip) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnJobDone(const JobDone& job) override ABSL_LOCKS_EXCLUDED(mu_);

  // Text()
  //
  // Every metric in the Prometheus text format (see the file comment).
  // Families without a sample yet (no job done, no round trip) still print
  // their HELP and TYPE lines.
  std::string Text() const ABSL_LOCKS_EXCLUDED(mu_);

  // WriteTo()
  //
  // The same families into `writer`, beside a program's own metrics.
  void WriteTo(prometheus::TextWriter& writer) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Series {
    explicit Series(const WorkerMetricsOptions& o)
        : queue_latency(&o.queue_latency_buckets), run(&o.run_buckets) {}
    JobEndCounts ends;
    prometheus::Histogram queue_latency;
    prometheus::Histogram run;
  };
  // Orders (queue, type) keys and finds them by string_view pairs, so that
  // counting a job allocates only for a (queue, type) seen the first time.
  struct KeyLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::pair<absl::string_view, absl::string_view>(a.first,
                                                             a.second) <
             std::pair<absl::string_view, absl::string_view>(b.first, b.second);
    }
  };

  const WorkerMetricsOptions options_;
  mutable internal::Mutex mu_;
  std::map<std::pair<std::string, std::string>, Series, KeyLess> series_
      ABSL_GUARDED_BY(mu_);
  prometheus::Histogram round_trips_ ABSL_GUARDED_BY(mu_);
  uint64_t locked_ ABSL_GUARDED_BY(mu_) = 0;
  // Per lane (RoundTrip::lane), as each last reported.
  std::map<int64_t, int64_t> buffered_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qg

#endif  // QG_METRICS_WORKER_METRICS_H_
