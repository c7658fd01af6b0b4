#include "qg/metrics/worker_metrics.h"

#include <algorithm>

#include "absl/time/time.h"

namespace qg {

WorkerMetrics::WorkerMetrics(WorkerMetricsOptions options)
    : options_(std::move(options)),
      round_trips_(&options_.round_trip_buckets) {}

void WorkerMetrics::OnRoundTrip(const RoundTrip& r) {
  internal::MutexLock lock(mu_);
  round_trips_.Observe(absl::ToDoubleSeconds(r.took));
  locked_ += std::max(0, r.locked);
  buffered_[r.lane] = r.buffered;
}

void WorkerMetrics::OnJobDone(const JobDone& job) {
  double latency =
      std::max(0.0, absl::ToDoubleSeconds(job.started - job.run_at));
  double run = std::max(0.0, absl::ToDoubleSeconds(job.finished - job.started));
  std::pair<absl::string_view, absl::string_view> key(job.queue, job.type);
  internal::MutexLock lock(mu_);
  auto it = series_.find(key);
  if (it == series_.end()) {
    it = series_
             .emplace(std::pair<std::string, std::string>(job.queue, job.type),
                      Series(options_))
             .first;
  }
  Series& s = it->second;
  s.ends.Add(job.end);
  // A job due far in the past (a retry of a dead job, a backlog) is still
  // one observation; the +Inf bucket takes it.
  s.queue_latency.Observe(latency);
  s.run.Observe(run);
}

std::string WorkerMetrics::Text() const {
  prometheus::TextWriter writer;
  WriteTo(writer);
  return writer.text();
}

void WorkerMetrics::WriteTo(prometheus::TextWriter& w) const {
  internal::MutexLock lock(mu_);
  struct Counter {
    const char* name;
    const char* help;
    uint64_t JobEndCounts::*field;
  };
  static constexpr Counter kCounters[] = {
      {"qg_jobs_completed_total", "Jobs that succeeded (deleted).",
       &JobEndCounts::completed},
      {"qg_jobs_failed_total", "Jobs that failed and will be retried.",
       &JobEndCounts::retried},
      {"qg_jobs_dead_total", "Jobs that failed out of attempts (dead).",
       &JobEndCounts::dead},
      {"qg_jobs_snoozed_total",
       "Jobs their handler rescheduled without a failure.",
       &JobEndCounts::snoozed},
      {"qg_jobs_cancelled_total", "Jobs an operator cancelled while they ran.",
       &JobEndCounts::cancelled},
      {"qg_jobs_released_total",
       "Jobs left untouched to run again (shutdown, a lost lock).",
       &JobEndCounts::released},
  };
  auto labels = [](const std::pair<std::string, std::string>& key) {
    return prometheus::Labels{{"queue", key.first}, {"type", key.second}};
  };
  for (const Counter& c : kCounters) {
    w.Family(c.name, c.help, "counter");
    for (const auto& [key, s] : series_) {
      w.Sample(c.name, labels(key), static_cast<double>(s.ends.*(c.field)));
    }
  }
  w.Family("qg_job_queue_latency_seconds",
           "From a job's run_at to its handler's start.", "histogram");
  for (const auto& [key, s] : series_) {
    s.queue_latency.Write(w, "qg_job_queue_latency_seconds", labels(key));
  }
  w.Family("qg_job_run_seconds", "How long a job's handler and verbs took.",
           "histogram");
  for (const auto& [key, s] : series_) {
    s.run.Write(w, "qg_job_run_seconds", labels(key));
  }
  w.Family("qg_locker_round_trip_seconds",
           "One round trip of a fast pool's locker session.", "histogram");
  round_trips_.Write(w, "qg_locker_round_trip_seconds", {});
  w.Family("qg_locker_jobs_locked_total",
           "Jobs a fast pool's locker session locked.", "counter");
  w.Sample("qg_locker_jobs_locked_total", {}, static_cast<double>(locked_));
  w.Family("qg_jobs_buffered",
           "Jobs locked ahead by a fast pool, waiting for a worker.", "gauge");
  int64_t buffered = 0;
  for (const auto& [lane, n] : buffered_) buffered += n;
  w.Sample("qg_jobs_buffered", {}, static_cast<double>(buffered));
}

}  // namespace qg
