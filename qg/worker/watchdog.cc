#include "qg/worker/watchdog.h"

#include <chrono>

namespace qg::internal {

Watchdog::~Watchdog() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::Watch(Job* job, absl::Time deadline) {
  MutexLock lock(mu_);
  if (cancel_all_) {
    job->Cancel(Job::CancelReason::kShutdown);
    return;
  }
  jobs_[job] = deadline;
  if (deadline == absl::InfiniteFuture()) return;
  if (!thread_.joinable()) {
    // No thread to be had: the next Watch() tries again (timeouts wait).
    absl::StatusOr<std::thread> t = StartThread([this] { Loop(); });
    if (t.ok()) thread_ = std::move(*t);
  }
  cv_.SignalAll();
}

void Watchdog::Unwatch(Job* job) {
  MutexLock lock(mu_);
  jobs_.erase(job);
}

void Watchdog::CancelAll() {
  MutexLock lock(mu_);
  cancel_all_ = true;
  for (auto& [job, deadline] : jobs_) job->Cancel(Job::CancelReason::kShutdown);
}

void Watchdog::Loop() {
  MutexLock lock(mu_);
  while (!stop_) {
    absl::Time now = absl::Now();
    absl::Time next = absl::InfiniteFuture();
    for (auto& [job, deadline] : jobs_) {
      if (deadline <= now) {
        job->Cancel(Job::CancelReason::kTimedOut);
      } else {
        next = std::min(next, deadline);
      }
    }
    cv_.WaitWithDeadline(lock, next);
  }
}

}  // namespace qg::internal
