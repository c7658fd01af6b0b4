// qg/internal/job_counter.h
// -----------------------------------------------------------------------------
//
// `JobCounter`: the throughput history a client's workers leave in
// `qg_job_counts` (jobs finished per minute, queue and job class, by how
// they ended), for consoles and dashboards even though finished jobs' rows
// are deleted. Counts are added in memory as jobs end and written by a
// background thread about once a second, one statement for all of them, so
// a busy pool never writes per job. Best effort: a database without the
// table (not migrated) turns counting off after one info line; a failed
// write keeps the counts for the next one. Rows older than a week are
// deleted once an hour. The same thread prunes job history past its
// retention (qg_job_history) every 10 seconds, while jobs finish.
#ifndef QG_INTERNAL_JOB_COUNTER_H_
#define QG_INTERNAL_JOB_COUNTER_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "qg/clock.h"
#include "qg/internal/conn_pool.h"
#include "qg/internal/queries.h"
#include "qg/internal/sync.h"
#include "qg/job_end.h"
#include "qg/logger.h"

namespace qg::internal {

class JobCounter {
 public:
  // Writes through `pool` every `every`.
  JobCounter(std::shared_ptr<ConnPool> pool, const Clock& clock, Logger* logger,
             absl::Duration every = absl::Seconds(1));
  // Calls `Stop()`.
  ~JobCounter();

  // Stops counting, stops the thread and writes what is left. Idempotent.
  void Stop();

  // Counts a job of `queue` and `type` that ended as `end` now. kNone and
  // kReleased are not counted, nor is anything after `Stop()` (a job that
  // outlived its client). Thread-safe, never blocks on I/O; the first count
  // starts the writing thread.
  void Add(const std::string& queue, const std::string& type, JobEnd end);

  // Writes the counts gathered so far now (tests; Close()).
  void Flush();

 private:
  void Loop();
  // Job history's retention: every kPruneEvery, deletes records past it in
  // statements of kPruneBatch records, until one deletes fewer or
  // kPruneBudget has passed (so a busy queue's records are pruned about
  // as fast as they come, up to about 1,000 statements a minute).
  void PruneHistory();
  static constexpr absl::Duration kPruneEvery = absl::Seconds(10);
  static constexpr absl::Duration kPruneBudget = absl::Seconds(5);
  static constexpr int kPruneBatch = 1000;
  // Writes `counts`; false when they should be kept for the next try.
  bool Write(const std::map<std::tuple<absl::Time, std::string, std::string>,
                            JobCount>& counts);

  const std::shared_ptr<ConnPool> pool_;
  const Clock& clock_;
  Logger* const logger_;
  const absl::Duration every_;

  Mutex mu_;
  CondVar cv_;
  std::map<std::tuple<absl::Time, std::string, std::string>, JobCount> counts_
      ABSL_GUARDED_BY(mu_);
  bool disabled_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool no_history_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_prune_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_trim_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  Mutex write_mu_;  // one Write at a time
};

}  // namespace qg::internal

#endif  // QG_INTERNAL_JOB_COUNTER_H_
