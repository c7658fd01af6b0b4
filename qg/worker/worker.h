// qg/worker/worker.h
// -----------------------------------------------------------------------------
//
// `Worker` pulls jobs off one queue and runs their handlers; `WorkerPool` runs
// several workers on their own threads (Go qg's `Worker` and `WorkerPool`).
// A pool takes jobs the fast way by default (`WorkerMode::kFast`: one locker
// session locks ahead in batches, NOTIFY wake-ups, batched completions) or
// qg's way (`kQgCompat`); a lone `Worker` always works like qg (one job per
// lock, polling every `interval`).
//
// Lifetime and threading (the contract in one place):
//   - The `Client`, the `WorkMap` and `WorkerOptions::observer`/`periodic`
//     must outlive the worker or pool (a client destroyed under a running
//     pool or worker aborts debug builds with a message).
//   - `Start()`, `Shutdown()`, `mode()` may be called from any thread.
//     `Shutdown()` may also be called from a handler (or observer) of the
//     pool or worker itself, e.g. on a poison message: it then only asks the
//     pool to stop and returns at once; the pool takes no new job, running
//     handlers finish, and a later `Shutdown()` from another thread, or the
//     destructor, waits for the rest. Never destroy a pool or worker from
//     its own handler.
//   - A pool starts once: `Start()` after `Shutdown()` is
//     `FailedPrecondition`; so is `Start()` on a closed client. After
//     `Client::Close()`, running pools take no new jobs.
//   - A handler gets a `Job&` that is valid until it returns; handlers run
//     on the pool's threads, several at once, so what they share needs
//     synchronization.
//
// Example:
//   qg::WorkMap work_map;
//   work_map.Register<example::SendEmail>(SendEmail);
//   qg::WorkerPool pool(client.get(), &work_map, /*count=*/4);
//   pool.Start();
//   ...
//   pool.Shutdown();  // finishes running jobs, then returns
#ifndef QG_WORKER_WORKER_H_
#define QG_WORKER_WORKER_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "qg/client.h"
#include "qg/internal/sync.h"
#include "qg/limits.h"
#include "qg/worker/pool_observer.h"
#include "qg/worker/work_map.h"

namespace qg {

class PeriodicEnqueuer;  // qg/periodic.h

namespace internal {
class ControlListener;
class FastPool;
class GuardedObserver;
class Watchdog;
}  // namespace internal

// How a WorkerPool takes jobs.
enum class WorkerMode {
  // One locker session per lane (`WorkerOptions::sessions`, one by
  // default): LISTEN/NOTIFY wake-ups, up to one job per
  // free worker locked per round trip, completions applied in batches. Needs
  // `qg migrate` (schema/qg_additions.sql); same advisory locks as Que 0.x.
  kFast,
  // qg's own loop: every worker locks one job per query on its own pooled
  // connection and polls every `interval` when idle.
  kQgCompat,
};

// WorkerOptions
struct WorkerOptions {
  // How long an idle worker sleeps before looking for a job again; must be
  // positive. Default: $QUE_WAKE_INTERVAL (seconds, e.g. "0.5") if it is a
  // positive number, else 5s (a zero, negative or unparsable value is
  // ignored with a warning: it would make idle workers spin).
  absl::Duration interval = DefaultInterval();

  // The queue to work. Default: $QUE_QUEUE if set, else "" (Que's default).
  std::string queue = DefaultQueue();

  // WorkerPool only: the fast path, or qg's. A pool asked for kFast on a
  // database without qg_lock_jobs() logs why and runs kQgCompat.
  // Default: kFast. (`Worker` always works like qg.)
  WorkerMode mode = WorkerMode::kFast;

  // kFast only: jobs locked ahead of the workers so that locking and
  // completing travel in batches. Their locks are held while they wait, so
  // other workers cannot take them. Default: -1, adaptive: as many as the
  // workers run in about two locker round trips, from the observed handler
  // run time and round-trip time (short jobs: big batches, up to 1000; long
  // jobs: none, one job per free worker, as Que holds). 0 or more fixes it.
  int buffer = -1;

  // kFast only: the longest a locked-ahead job waits for a worker before the
  // pool releases it for other workers (a Ruby or Go worker, another pool).
  // Default: 500ms.
  absl::Duration max_buffer_wait = absl::Milliseconds(500);

  // kFast only: a job that waited in the buffer starts only if the answer
  // of its last check under its lock (it still exists with the key it was
  // locked with, and the locker session holding its lock is alive) arrived
  // at most this long ago; older ones are re-checked in one round trip
  // first. Counted from the answer, not the question, so that round trips
  // longer than this (a busy or distant server) still start jobs. Default:
  // 25ms.
  absl::Duration recheck_after = absl::Milliseconds(25);

  // kFast only: the longest a statement of the pool's locker session may
  // run before the server cancels it (statement_timeout: a lock query stuck
  // behind another session's table lock); a round trip with no answer for
  // 5 s more gives the session up, as a stalled or half-open connection.
  // Default: 30s.
  absl::Duration round_trip_timeout = absl::Seconds(30);

  // Receives what the pool does (see qg/worker/pool_observer.h); not owned,
  // must outlive the pool. Default: nullptr.
  PoolObserver* observer = nullptr;
  // WorkerPool only: periodic jobs to enqueue while the pool runs (see
  // qg/periodic.h). `Start()` starts the enqueuer (and fails, starting
  // nothing, if it cannot); `Shutdown()` stops it first. It must outlive
  // the pool. Default: nullptr (none).
  PeriodicEnqueuer* periodic = nullptr;

  // WorkerPool only: flow-control limits (qg/limits.h) the pool's code
  // declares. `Start()` stores each one in the database, where every pool
  // of every process reads it, and fails, starting nothing, if one is
  // invalid or the schema lacks `qg_limits` (run `qg migrate`). A limit
  // whose name is already stored is left as stored (an operator's change
  // with `qg limits set` or the console outlives a restart) unless
  // `replace_limits` is true. Default: none.
  std::vector<Limit> limits;
  bool replace_limits = false;

  // kFast only: how many lanes the pool's workers are spread over. A lane is
  // a locker session (which holds its jobs' locks and locks ahead for its
  // workers) and a writer session (which records their outcomes), with its
  // own buffer: one lane keeps about two server processes busy, however
  // many workers it has, so where the database server has the cores, more
  // lanes give one pool more of them. Each lane behaves as a pool of its
  // own would (Que order within what it locks, pause, cancel, limits; a
  // lane's session that dies affects only that lane's jobs), as several
  // processes sharing the queue do. Each lane opens 3 connections (locker,
  // writer, sweeper). A fixed `buffer` is split over the lanes as the
  // workers are. A job one lane gives back (`max_buffer_wait`) is looked
  // for again by that lane; the others find it at their next sweep (about
  // `interval`), as other processes would. 0 (automatic): one lane per 4
  // workers, at most 4, and where the server is on this machine (a Unix
  // socket or loopback), which shares its cores with the pool, at most 2
  // or one per 4 of its cores: 1-7 workers one lane (3 connections), 8-11
  // two (6), 12-15 three, 16 or more four (12) (see README, "Operating at
  // scale"). Default: 1.
  int sessions = 1;

  static absl::Duration DefaultInterval();
  static std::string DefaultQueue();

  // Validate()
  //
  // `InvalidArgument` naming the first bad option: interval not positive,
  // buffer below -1, recheck_after negative, an invalid limit.
  absl::Status Validate() const;
};

// Worker
//
// Works jobs of `options.queue` with `work_map`, one at a time. An unknown
// type, a handler error or a thrown exception records an error on the job
// (retried with backoff); the worker goes on.
class Worker {
 public:
  // `client` and `work_map` must outlive the worker.
  Worker(Client* client, const WorkMap* work_map, WorkerOptions options = {});
  ~Worker();

  // Work()
  //
  // Pulls jobs until `Shutdown()`: works one after another while jobs are
  // ready, sleeps `interval` when none is (or when locking failed). Returns
  // after `Shutdown()`. Run it on its own thread.
  void Work();

  // WorkOne()
  //
  // Locks and works at most one job; true if it worked one.
  bool WorkOne();

  // Shutdown()
  //
  // Stops taking jobs and lets the current job finish, then returns once
  // `Work()` has returned. With a `grace` period: past it, the running job
  // is cancelled (`Job::Cancelled()`), and Shutdown waits for its handler to
  // return; a cancelled job that failed is released for another worker.
  // Safe to call twice, or on a worker that never started. Called from the
  // worker's own handler, it returns at once and `Work()` returns after the
  // handler.
  void Shutdown(absl::Duration grace = absl::InfiniteDuration());

  const WorkerOptions& options() const { return options_; }

 private:
  friend class WorkerPool;
  // Used by WorkerPool: share the pool's watchdog; stop without waiting; wait.
  // `said_closed` (may be null: the worker's own) is shared by a pool's
  // workers, so that a closed client is logged once per pool.
  Worker(Client* client, const WorkMap* work_map, WorkerOptions options,
         internal::Watchdog* watchdog,
         const internal::ControlListener* control = nullptr,
         std::atomic<bool>* said_closed = nullptr);
  void RequestStop();
  bool WaitStopped(absl::Time deadline);
  // Whether this worker runs job `id` now.
  bool Runs(int64_t id);
  // Asks the job `id` this worker runs (if it does) to stop.
  void CancelIfRunning(int64_t id);

  Client* client_;
  const WorkMap* work_map_;
  const WorkerOptions options_;
  std::unique_ptr<internal::Watchdog> own_watchdog_;
  internal::Watchdog* watchdog_;
  const internal::ControlListener* control_;  // pause state; may be null
  std::atomic<bool> own_said_closed_{false};
  std::atomic<bool>* const said_closed_;
  // options_.observer, surviving a throwing callback.
  std::unique_ptr<internal::GuardedObserver> observer_;
  internal::Mutex mu_;
  internal::CondVar cv_;  // stop_ or working_ changed
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool working_ ABSL_GUARDED_BY(mu_) = false;
  Job* current_ ABSL_GUARDED_BY(mu_) = nullptr;  // the job being run
};

// WorkerPool
//
// `count` workers on their own threads, all on `options.queue`. In
// `WorkerMode::kFast` (the default) the workers share one locker session (per
// lane: WorkerOptions::sessions) and
// need only a connection when a handler uses `Job::Conn()`/`Tx()`; in
// `kQgCompat` each busy worker holds a pooled connection.
class WorkerPool {
 public:
  // `client` and `work_map` must outlive the pool. The client's `max_conns`
  // should be at least `count`: each busy worker holds a connection.
  WorkerPool(Client* client, const WorkMap* work_map, int count,
             WorkerOptions options = {});
  // Shuts down if still running.
  ~WorkerPool();

  // Start()
  //
  // Starts the workers' threads. `InvalidArgument` for a count below 1 or
  // bad options (nothing starts then); `FailedPrecondition` after
  // `Shutdown()` (a pool does not restart: make a new one) or when the
  // client is closed. A second call while running does nothing. A pool
  // asked for kFast on a database without the fast path's function falls
  // back to kQgCompat and says why at info level (see `mode_reason()`).
  absl::Status Start();

  // The mode the pool runs in after Start() (kQgCompat after a fallback).
  WorkerMode mode() const;

  // Why the pool runs in `mode()`, one line for logs and `qg work`, e.g.
  // "fast (one locker session, batched)" or "qg-compatible: the database
  // lacks qg_lock_jobs() (run `qg migrate`)".
  std::string mode_reason() const;

  // Shutdown()
  //
  // Stops taking jobs, lets running handlers finish, releases jobs locked
  // ahead that did not start, and waits for every worker. With a `grace`
  // period: past it, running jobs are cancelled (`Job::Cancelled()`) and
  // Shutdown waits for their handlers to return; cancelled jobs that failed
  // are released for other workers. Idempotent; the destructor calls it.
  // Called from a handler or observer of this pool, it asks the pool to stop
  // and returns at once (see the contract at the top of this file).
  void Shutdown(absl::Duration grace = absl::InfiniteDuration());

  int size() const { return static_cast<int>(workers_.size()); }

 private:
  // Asks every part to stop taking jobs, without waiting.
  void RequestStop();
  // Start()'s two ways: the fast pool (an error when the database lacks
  // its function: the pool then starts the qg-compatible way), or qg's
  // workers with their control listener.
  // Stores WorkerOptions::limits (EnsureLimit, or SetLimit to replace).
  absl::Status StoreLimits();
  // How many lanes a fast pool runs (WorkerOptions::sessions, resolved).
  int Lanes() const;
  absl::Status StartFast();
  absl::Status StartQgCompat();
  // A Start() that could not start everything (no threads left): undoes
  // what it did and returns `why`; the pool may be started again.
  absl::Status Unstart(absl::Status why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Client* client_;
  const WorkMap* work_map_;
  const int count_;
  WorkerOptions options_;
  std::unique_ptr<internal::Watchdog> watchdog_;
  // options_.observer for the fast path, surviving a throwing callback.
  std::unique_ptr<internal::GuardedObserver> observer_;
  // kFast: the lanes (WorkerOptions::sessions), each a FastPool of its own.
  std::vector<std::unique_ptr<internal::FastPool>> fast_;
  std::unique_ptr<internal::ControlListener> control_;  // qg-compatible mode
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  internal::Mutex shutdown_mu_;  // serializes Start() and Shutdown()
  mutable internal::Mutex mu_;   // options_.mode, mode_reason_, started_
  bool started_ = false;
  // Shutdown() was called: no (re)start. Atomic: a handler's Shutdown()
  // must not wait for a Start() that is waiting for it.
  std::atomic<bool> shut_down_{false};
  bool stopped_ = false;  // a Shutdown() finished: nothing left to wait for
  std::atomic<bool> said_closed_{false};  // "the client is closed" logged
  std::string mode_reason_;
  bool periodic_started_ = false;  // under shutdown_mu_
};

}  // namespace qg

#endif  // QG_WORKER_WORKER_H_
