#include "qg/worker/watchdog.h"

#include <chrono>

namespace qg::internal {

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::Watch(Job* job, absl::Time deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancel_all_) {
    job->Cancel(Job::CancelReason::kShutdown);
    return;
  }
  jobs_[job] = deadline;
  if (deadline == absl::InfiniteFuture()) return;
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  cv_.notify_all();
}

void Watchdog::Unwatch(Job* job) {
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.erase(job);
}

void Watchdog::CancelAll() {
  std::lock_guard<std::mutex> lock(mu_);
  cancel_all_ = true;
  for (auto& [job, deadline] : jobs_) job->Cancel(Job::CancelReason::kShutdown);
}

void Watchdog::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
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
    if (next == absl::InfiniteFuture()) {
      cv_.wait(lock);
    } else {
      cv_.wait_for(lock, absl::ToChronoNanoseconds(next - now));
    }
  }
}

}  // namespace qg::internal
