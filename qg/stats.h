// qg/stats.h
// -----------------------------------------------------------------------------
//
// Queue statistics per (queue, job type), Go qg's `JobStats`, read by
// `Client::Stats()` or `QueryJobStats()` on any executor.
//
// Example:
//   QG_ASSIGN_OR_RETURN(std::vector<qg::JobStats> stats, client->Stats());
//   for (const qg::JobStats& s : stats) {
//     printf("%s %s: %lld jobs, %lld working\n", s.queue.c_str(),
//            s.type.c_str(), (long long)s.count, (long long)s.count_working);
//   }
#ifndef QG_STATS_H_
#define QG_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qg/executor.h"

namespace qg {

// JobStats
//
// One (queue, type) group of `que_jobs`.
struct JobStats {
  std::string queue;
  std::string type;  // Ruby Que's job_class
  int64_t count = 0;
  // Jobs whose advisory lock is held right now (being worked), read from
  // pg_locks of the current database.
  int64_t count_working = 0;
  // Jobs with error_count > 0.
  int64_t count_errored = 0;
  int64_t highest_error_count = 0;
  absl::Time oldest_run_at;
  // Jobs out of attempts (`ClientOptions::max_attempts`), kept but not run.
  int64_t count_dead = 0;
};

// A job as listed for operators (`Client::DeadJobs()`).
struct JobInfo {
  int64_t id = 0;
  std::string queue;
  std::string type;
  int16_t priority = 0;
  absl::Time run_at;
  int32_t error_count = 0;
  std::string last_error;
};

// QueryJobStats()
//
// Reads the statistics through `exec`, ordered by queue then type. Empty when
// the table is empty.
absl::StatusOr<std::vector<JobStats>> QueryJobStats(Executor& exec);

}  // namespace qg

#endif  // QG_STATS_H_
