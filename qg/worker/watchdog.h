// qg/worker/watchdog.h
// -----------------------------------------------------------------------------
//
// Cancels running jobs that pass their deadline (per-type timeouts) and, at
// shutdown, every running job (internal; used by Worker and WorkerPool).
// A thread is started on the first finite deadline only.
#ifndef QG_WORKER_WATCHDOG_H_
#define QG_WORKER_WATCHDOG_H_

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "qg/internal/sync.h"
#include "qg/job.h"

namespace qg::internal {

class Watchdog {
 public:
  Watchdog() = default;
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Watches `job` until `Unwatch(job)`: at `deadline` (InfiniteFuture: never)
  // it is cancelled with kTimedOut. After `CancelAll()`, a newly watched job
  // is cancelled with kShutdown at once.
  void Watch(Job* job, absl::Time deadline);
  void Unwatch(Job* job);

  // Cancels every watched job, and every job watched from now on, with
  // kShutdown.
  void CancelAll();

 private:
  void Loop();

  Mutex mu_;
  CondVar cv_;
  std::map<Job*, absl::Time> jobs_;
  bool cancel_all_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace qg::internal

#endif  // QG_WORKER_WATCHDOG_H_
