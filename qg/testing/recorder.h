// qg/testing/recorder.h
// -----------------------------------------------------------------------------
//
// `Recorder`: what job handlers observed, for asserting on the order jobs
// started in and on how often each ran.
//
// Example:
//   qg_testing::Recorder recorder;
//   work_map.Register("Job", [&](qg::Job& job) {
//     recorder.Start(job.id());
//     return absl::OkStatus();
//   });
//   ...
//   EXPECT_EQ(recorder.runs(id), 1);
//   EXPECT_THAT(recorder.order(), ElementsAre(first, second));
#ifndef QG_TESTING_RECORDER_H_
#define QG_TESTING_RECORDER_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "qg/internal/sync.h"

namespace qg_testing {

// Recorder
//
// Thread-safe: handlers record from the pool's threads.
class Recorder {
 public:
  // Records a start of job `id`; returns how many times it has started.
  int Start(int64_t id) ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    order_.push_back(id);
    return ++runs_[id];
  }
  // How many times job `id` started.
  int runs(int64_t id) ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    auto it = runs_.find(id);
    return it == runs_.end() ? 0 : it->second;
  }
  // Starts of every job.
  int total() ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    return static_cast<int>(order_.size());
  }
  // Jobs that started at least once.
  int distinct() ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    return static_cast<int>(runs_.size());
  }
  // The ids in the order they started (a job that ran twice appears twice).
  std::vector<int64_t> order() ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    return order_;
  }

 private:
  qg::internal::Mutex mu_;
  std::vector<int64_t> order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, int> runs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qg_testing

#endif  // QG_TESTING_RECORDER_H_
