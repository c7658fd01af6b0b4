// qg/worker/fast_pool.h
// -----------------------------------------------------------------------------
//
// The batched worker path behind `WorkerPool` in `WorkerMode::kFast`
// (internal; use `WorkerPool`).
//
// One locker thread owns one connection (the locker session). It LISTENs on
// `qg_jobs`, locks up to as many ready jobs as there are free worker slots in
// one statement (`sql::kLockBatch`), and hands them to the worker threads in
// (priority, run_at, job_id) order. Workers report completions; the locker
// applies them in batches, in one pipelined round trip together with the next
// lock query: DELETE (commit), UPDATE for failures (commit), then unlock. The
// advisory locks are the same Que 0.x locks, so qg-compatible workers, Ruby
// Que, que-go and qg can work the same queue.
//
// Idle, the locker sleeps in poll() on its socket (NOTIFY), a wake-up fd
// (completions, shutdown) and a timer: the earliest known future run_at, or
// the poll interval, whichever is first.
#ifndef QG_WORKER_FAST_POOL_H_
#define QG_WORKER_FAST_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "qg/client.h"
#include "qg/internal/pg.h"
#include "qg/job.h"
#include "qg/worker/work_map.h"

namespace qg::internal {

struct FastPoolOptions {
  std::string queue;
  int workers = 1;
  // Jobs locked ahead of the workers, so that locks and completions travel
  // in bigger batches (Que 1.x's job buffer). Their locks are held while
  // they wait.
  int buffer = 8;
  // Longest sleep without a NOTIFY (peers' retries and anything else that
  // does not insert are found this way).
  absl::Duration poll_interval = absl::Seconds(5);
  // Wait after a failed locker connection before reconnecting.
  absl::Duration reconnect_delay = absl::Seconds(1);
};

class Watchdog;

class FastPool : public JobSink {
 public:
  // `watchdog` (not owned) enforces timeouts and cancels at shutdown.
  FastPool(Client* client, const WorkMap* work_map, FastPoolOptions options,
           Watchdog* watchdog);
  ~FastPool() override;

  // Starts the locker and the worker threads. FailedPrecondition when the
  // database lacks qg_lock_job() (run `qg migrate`).
  absl::Status Start();

  // Stops locking, lets running handlers finish (cancelling them through the
  // watchdog at `deadline`), releases locked jobs that did not start, applies
  // the last completions, and joins every thread. Idempotent.
  void Shutdown(absl::Time deadline = absl::InfiniteFuture());

  // From worker threads (via Job::Done()).
  void Finish(Completion completion) override;

 private:
  struct Batch;  // one pipelined round trip

  void LockerLoop();
  void WorkerLoop();
  absl::Status ConnectLocker();
  absl::Status RunCycle(std::vector<Completion> completions, int want,
                        bool query_next_due);
  void WaitForWork(absl::Duration timeout);
  void Wake();
  std::unique_ptr<Job> MakeJob(const Result& r, int row);

  Client* client_;
  const WorkMap* work_map_;
  const FastPoolOptions options_;
  std::shared_ptr<const JobHooks> hooks_;
  Logger* logger_;
  Watchdog* watchdog_;
  int wake_fd_ = -1;

  // Locker-thread state.
  ConnPtr locker_;
  uint64_t generation_ = 0;
  bool queue_may_have_work_ = true;
  bool contended_ = false;      // last batch met jobs locked elsewhere
  bool need_next_due_ = false;  // last batch drained the queue
  absl::Time next_due_ = absl::InfiniteFuture();
  absl::Time last_lock_ = absl::InfinitePast();

  std::mutex mu_;
  std::condition_variable work_cv_;  // ready_ filled, or stopping_
  std::condition_variable idle_cv_;  // workers_running_ went down
  std::deque<std::unique_ptr<Job>> ready_ ABSL_GUARDED_BY(mu_);
  std::vector<Completion> completions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<int64_t> held_
      ABSL_GUARDED_BY(mu_);  // locked, unfinished
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int workers_running_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;

  std::thread locker_thread_;
  std::vector<std::thread> worker_threads_;
};

}  // namespace qg::internal

#endif  // QG_WORKER_FAST_POOL_H_
