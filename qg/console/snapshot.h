// qg/console/snapshot.h
// -----------------------------------------------------------------------------
//
// What the web console's overview and its /metrics show, read from the
// database at most once per refresh interval however many pages poll and
// scrapers scrape: per (queue, type) counts by state and the oldest ready
// job's age, each queue's pause state (qg_queues, when it exists), the
// throughput of the last minutes (qg_job_counts, when it exists) and each
// flow-control limit with its use (qg_limits, when it exists).
//
// Example:
//   SnapshotCache cache(pool, {.max_age = absl::Seconds(5)});
//   QG_ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> s, cache.Get());
//   for (const GroupCounts& g : s->groups) { ... g.ready ... }
#ifndef QG_CONSOLE_SNAPSHOT_H_
#define QG_CONSOLE_SNAPSHOT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qg/internal/conn_pool.h"
#include "qg/internal/sync.h"
#include "qg/limits.h"

namespace qg::console {

// GroupCounts
//
// One (queue, type) of que_jobs, in `qg::JobState`'s states.
struct GroupCounts {
  std::string queue;
  std::string type;
  int64_t count = 0;
  int64_t ready = 0;      // due, not held
  int64_t scheduled = 0;  // due later, not dead
  int64_t working = 0;    // held by a session of this database
  int64_t errored = 0;    // error_count > 0, dead ones included
  int64_t dead = 0;       // out of attempts
  int64_t highest_error_count = 0;
  absl::Time oldest_run_at;
  // The oldest ready job's run_at; unset when none is ready.
  std::optional<absl::Time> oldest_ready_run_at;
  // How long it has been due, by the database's clock; zero when none.
  absl::Duration oldest_ready_age;
};

// MinuteCounts
//
// Jobs finished in one minute (qg_job_counts, summed).
struct MinuteCounts {
  absl::Time minute;
  int64_t completed = 0, retried = 0, dead = 0, snoozed = 0, cancelled = 0;
};

// Snapshot
struct Snapshot {
  absl::Time taken;     // this process's clock, when the read started
  absl::Duration took;  // how long the read took
  absl::Time db_now;    // the database's now() during the read
  std::vector<GroupCounts> groups;
  // Whether qg_queues exists (pause state known); queue → paused.
  bool has_queue_table = false;
  std::map<std::string, bool> paused;
  // Whether qg_job_counts exists; the throughput of the last
  // `SnapshotOptions::throughput_minutes` minutes, oldest first.
  bool has_counts = false;
  std::vector<MinuteCounts> throughput;
  // Whether qg_limits exists; every limit with its use (`qg::ListLimits()`,
  // `waiting` counted up to `kLimitMaxScan` jobs per limit), by name.
  bool has_limits = false;
  std::vector<LimitInfo> limits;
  // Why the limits could not be read (the database role may not prune
  // qg_limit_rates, ...): the rest of the snapshot stands without them.
  absl::Status limits_status;
};

// kLimitMaxScan
//
// The jobs a snapshot looks at per limit to count its waiting ones (the
// operator bound of job lists, `qg::kOperatorMaxScan`).
inline constexpr int kLimitMaxScan = 10000;

// ReadSnapshot()
//
// Reads a snapshot on `conn` now (three to seven statements, one pass over
// que_jobs, and per limit a bounded look at its jobs).
absl::StatusOr<Snapshot> ReadSnapshot(PGconn* conn, int throughput_minutes);

// ReadThroughput()
//
// The throughput of the last `minutes` minutes of one queue and/or type
// (nullopt: all). Empty when qg_job_counts is missing.
absl::StatusOr<std::vector<MinuteCounts>> ReadThroughput(
    PGconn* conn, int minutes, const std::optional<std::string>& queue,
    const std::optional<std::string>& type);

// SnapshotOptions
struct SnapshotOptions {
  // A snapshot younger than this is served as it is. Default: 5s.
  absl::Duration max_age = absl::Seconds(5);
  // The throughput window read with each snapshot. Default: 180 (3 h).
  int throughput_minutes = 180;
  // How long to wait for a connection. Default: 10s.
  absl::Duration acquire_timeout = absl::Seconds(10);
};

// SnapshotCache
//
// Thread-safe. One reader at a time refreshes; while it does, others get
// the previous snapshot (or wait for the first). A failed read is cached
// for `max_age` too, so a struggling database is not asked again per
// request.
class SnapshotCache {
 public:
  SnapshotCache(std::shared_ptr<internal::ConnPool> pool,
                SnapshotOptions options);

  // Get()
  //
  // The latest snapshot, read now if it is older than `max_age`.
  absl::StatusOr<std::shared_ptr<const Snapshot>> Get()
      ABSL_LOCKS_EXCLUDED(mu_);

  // Invalidate()
  //
  // The next `Get()` reads the database again (after an action changed
  // what the snapshot shows).
  void Invalidate() ABSL_LOCKS_EXCLUDED(mu_);

  // How many times the database was read (for /metrics and tests).
  int64_t refreshes() const ABSL_LOCKS_EXCLUDED(mu_);

  const SnapshotOptions& options() const { return options_; }

 private:
  struct Entry {
    absl::Time at = absl::InfinitePast();
    absl::StatusOr<std::shared_ptr<const Snapshot>> value =
        absl::UnavailableError("no snapshot yet");
  };

  // Whether `entry_` is younger than `max_age`.
  bool Fresh() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads the database on a pooled connection: a snapshot or why not.
  absl::StatusOr<std::shared_ptr<const Snapshot>> Read()
      ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<internal::ConnPool> pool_;
  const SnapshotOptions options_;
  mutable internal::Mutex mu_;
  internal::CondVar refreshed_;  // a refresh ended
  Entry entry_ ABSL_GUARDED_BY(mu_);
  bool refreshing_ ABSL_GUARDED_BY(mu_) = false;  // one reader is reading
  int64_t refreshes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace qg::console

#endif  // QG_CONSOLE_SNAPSHOT_H_
