#include "qg/internal/job_counter.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qg/internal/job_ops.h"
#include "qg/internal/sync.h"
#include "qg/pg.h"

namespace qg::internal {

JobCounter::JobCounter(std::shared_ptr<ConnPool> pool, const Clock& clock,
                       Logger* logger, absl::Duration every)
    : pool_(std::move(pool)), clock_(clock), logger_(logger), every_(every) {}

JobCounter::~JobCounter() { Stop(); }

void JobCounter::Stop() {
  std::thread thread;
  {
    MutexLock lock(mu_);
    if (stop_) return;  // stopped and flushed already
    stop_ = true;
    thread.swap(thread_);
  }
  cv_.SignalAll();
  if (thread.joinable()) thread.join();
  Flush();
}

void JobCounter::Add(const std::string& queue, const std::string& type,
                     JobEnd end) {
  if (end == JobEnd::kNone || end == JobEnd::kReleased) return;
  MutexLock lock(mu_);
  // Stopped: its client is closed (or gone), and so may be its clock.
  if (disabled_ || stop_) return;
  absl::Time minute =
      absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now()) / 60 * 60);
  if (!thread_.joinable()) {
    // No thread to be had: the counts wait in memory for the next Add()
    // that gets one, or for Stop().
    absl::StatusOr<std::thread> t = StartThread([this] { Loop(); });
    if (t.ok()) thread_ = std::move(*t);
  }
  JobCount& c = counts_[{minute, queue, type}];
  c.minute = minute;
  c.queue = queue;
  c.type = type;
  c.ends.Add(end);
}

void JobCounter::Loop() {
  MutexLock lock(mu_);
  while (!stop_) {
    cv_.WaitUntil(lock, absl::Now() + every_, [this] {
      mu_.AssertHeld();
      return stop_;
    });
    if (stop_) break;
    lock.Unlock();
    Flush();
    lock.Lock();
  }
}

void JobCounter::Flush() {
  MutexLock writing(write_mu_);
  std::map<std::tuple<absl::Time, std::string, std::string>, JobCount> counts;
  bool trim = false;
  {
    MutexLock lock(mu_);
    if (disabled_) return;
    counts.swap(counts_);
    if (clock_.Now() - last_trim_ >= absl::Hours(1)) {
      last_trim_ = clock_.Now();
      trim = true;
    }
  }
  if (counts.empty() && !trim) return;
  if (!counts.empty() && !Write(counts)) {
    // Keep them for the next try.
    MutexLock lock(mu_);
    if (disabled_) return;
    for (auto& [key, c] : counts) {
      JobCount& into = counts_[key];
      into.minute = c.minute;
      into.queue = c.queue;
      into.type = c.type;
      into.ends += c.ends;
    }
    return;
  }
  if (trim) {
    absl::StatusOr<PooledConn> conn = pool_->Acquire(absl::Milliseconds(100));
    if (conn.ok()) {
      Run(conn->get(), queries::TrimCounts(absl::Hours(24 * 7))).IgnoreError();
    }
  }
  PruneHistory();
}

void JobCounter::PruneHistory() {
  {
    MutexLock lock(mu_);
    if (stop_ || no_history_ || clock_.Now() - last_prune_ < kPruneEvery) {
      return;
    }
    last_prune_ = clock_.Now();
  }
  absl::StatusOr<PooledConn> conn = pool_->Acquire(absl::Milliseconds(100));
  if (!conn.ok()) return;
  absl::StatusOr<int64_t> pruned =
      internal::PruneHistory(conn->get(), kPruneBatch, kPruneBudget);
  if (pruned.ok()) return;
  std::string state = SqlState(pruned.status());
  if (state == "42P01" || state == "42883") {
    // Not migrated for history: nothing to prune, now or later.
    MutexLock lock(mu_);
    no_history_ = true;
    return;
  }
  logger_->Log(
      LogLevel::kWarning,
      absl::StrCat("qg: pruning job history: ", pruned.status().ToString(),
                   "; trying again in ", absl::FormatDuration(kPruneEvery)));
}

bool JobCounter::Write(
    const std::map<std::tuple<absl::Time, std::string, std::string>, JobCount>&
        counts) {
  absl::StatusOr<PooledConn> conn = pool_->Acquire(absl::Milliseconds(100));
  if (!conn.ok()) return false;  // busy or down: next time
  std::vector<JobCount> rows;
  rows.reserve(counts.size());
  for (const auto& [key, c] : counts) rows.push_back(c);
  absl::StatusOr<PgResult> r = Run(conn->get(), queries::CountJobs(rows));
  if (r.ok()) return true;
  if (SqlState(r.status()) == "42P01") {
    // Not migrated: no history, and nothing to retry.
    MutexLock lock(mu_);
    disabled_ = true;
    counts_.clear();
    logger_->Log(LogLevel::kInfo,
                 "qg: qg_job_counts is missing (run `qg migrate`): not "
                 "keeping throughput history");
    return true;
  }
  logger_->Log(LogLevel::kWarning,
               absl::StrCat("qg: recording job counts: ", r.status().ToString(),
                            "; retrying"));
  return false;
}

}  // namespace qg::internal
