// qg/job.h
// -----------------------------------------------------------------------------
//
// `NewJob` is what you enqueue; `Job` is a job a worker (or `LockJob()`) has
// locked: the row's columns, the pooled connection that holds the job's
// session-level advisory lock, and the verbs that finish it.
//
// The columns are Ruby Que 0.x's `que_jobs`: `type` is Que's `job_class`,
// `args` is JSON text stored byte for byte, `priority` 100 by default with a
// lower number running first.
//
// Example (what a worker does for you):
//   QG_ASSIGN_OR_RETURN(std::unique_ptr<qg::Job> job, client->LockJob(""));
//   if (job == nullptr) return absl::OkStatus();   // nothing ready
//   absl::Status s = Handle(*job);
//   if (s.ok()) s = job->Delete(); else s = job->Error(s.ToString());
//   job->Done();                                   // unlock, return the conn
#ifndef QG_JOB_H_
#define QG_JOB_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libpq-fe.h"
#include "qg/executor.h"
#include "qg/internal/conn_pool.h"
#include "qg/logger.h"

namespace qg_testing {
class JobPeer;
}  // namespace qg_testing

namespace qg {

class Job;

namespace internal {
class FastPool;

// How a job of the batched path ended; the pool's locker applies it.
struct Completion {
  enum class Kind {
    kUnlockOnly,  // nothing left to write (already deleted, or left as is)
    kDelete,      // delete the row, then unlock
    kError,       // record the failure, then unlock
  };
  Kind kind = Kind::kUnlockOnly;
  std::string queue;
  int16_t priority = 0;
  std::string run_at_text;
  int64_t id = 0;
  int32_t new_error_count = 0;
  absl::Duration delay;
  std::string message;
  uint64_t generation = 0;  // the locker session that holds the lock
};

// Receives the completions of jobs whose lock another session holds.
class JobSink {
 public:
  virtual ~JobSink() = default;
  virtual void Finish(Completion completion) = 0;
};
}  // namespace internal

// NewJob
//
// A job to enqueue. Only `type` is required.
struct NewJob {
  // The job's type: the key of its handler in a `WorkMap`, and Ruby Que's
  // `job_class` (pick a Ruby class name, such as "SendEmail", when Ruby
  // workers share the queue). Must not be empty.
  std::string type;

  // The job's arguments: the text of a valid JSON value, stored byte for byte.
  // Default: "[]" (what Que stores for a job without arguments; an empty
  // string also means "[]").
  std::string args = "[]";

  // The queue's name. Default: "" (Que's and qg's default queue).
  std::string queue;

  // Lower runs first; must fit PostgreSQL's smallint (-32768..32767).
  // Default: 100.
  int priority = 100;

  // When the job becomes runnable (stored with microsecond precision).
  // Default: std::nullopt, meaning the database's now().
  std::optional<absl::Time> run_at;
};

// Backoff after the `error_count`-th failure. Default (`DefaultBackoff`):
// error_count^4 + 3 seconds, Que's and qg's.
using BackoffFunc = std::function<absl::Duration(int32_t error_count)>;

// Customizable completion (Go qg's customizable Delete/Error). `exec` runs in
// the job's transaction when one is open (`Job::Tx()` or an injected one),
// else on the job's connection.
//   DeleteFunc: removes a finished job (e.g. archive it instead).
//   ErrorFunc:  records a failure and schedules the retry.
using DeleteFunc = std::function<absl::Status(Job& job, Executor& exec)>;
using ErrorFunc = std::function<absl::Status(Job& job, Executor& exec,
                                             absl::string_view message)>;

// The prefix of last_error of a job that ran out of attempts
// (`ClientOptions::max_attempts`). Such a dead job keeps its row, with run_at
// 9999-01-01, so that no worker (qg-cpp, Ruby Que, que-go, qg) takes it
// again; it counts in `JobStats::count_dead` and `Client::DeadJobs()`, and
// `Client::RetryJob()` (or `qg retry`) brings it back.
inline constexpr char kDeadMarker[] = "qg: dead after ";

// error_count^4 + 3 seconds.
absl::Duration DefaultBackoff(int32_t error_count);

// Deletes the job's row (qg's Delete).
absl::Status DefaultDelete(Job& job, Executor& exec);

// Sets error_count = job.error_count() + 1, run_at = now() + backoff,
// last_error = message (qg's Error with `DefaultBackoff`).
absl::Status DefaultError(Job& job, Executor& exec, absl::string_view message);

// Records a failure with a custom backoff; what `DefaultError` does with
// `DefaultBackoff`. For building an `ErrorFunc`. `delay` =
// `absl::InfiniteDuration()` marks the job dead (see `kDeadMarker`).
absl::Status RecordError(Job& job, Executor& exec, absl::string_view message,
                         absl::Duration delay);

// How jobs finish; part of `ClientOptions`.
struct JobHooks {
  DeleteFunc delete_func;    // Default: DefaultDelete.
  ErrorFunc error_func;      // Default: RecordError with `backoff`.
  BackoffFunc backoff;       // Default: DefaultBackoff.
  int max_attempts = 0;      // Default: 0, no limit.
  Logger* logger = nullptr;  // Default: DefaultLogger().
};

// Job
//
// A locked job. Owns a pooled connection and the job's advisory lock until
// `Done()` (or destruction, which calls `Done()`). Accessors are thread-safe;
// the verbs are meant for the one thread working the job, except that
// `Conn()` and `Done()` may race safely.
//
// Jobs handed out by a fast (batched) `WorkerPool` differ in one way: the
// advisory lock is held by the pool's locker session, and `Conn()` is a pooled
// connection taken on first use. `Delete()` and `Error()` with the default
// hooks and no open transaction are applied in a batch after `Done()`; with
// `Tx()` open, `Delete()` deletes inside that transaction and commits, as on
// the qg-compatible path.
class Job {
 public:
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // The row's columns.
  int64_t id() const { return id_; }
  const std::string& queue() const { return queue_; }
  int16_t priority() const { return priority_; }
  absl::Time run_at() const { return run_at_; }
  const std::string& type() const { return type_; }
  const std::string& args() const { return args_; }
  int32_t error_count() const { return error_count_; }
  const std::optional<std::string>& last_error() const { return last_error_; }
  // run_at exactly as PostgreSQL printed it (the key the verbs match on).
  const std::string& run_at_text() const { return run_at_text_; }

  // Delete()
  //
  // Marks the job complete by deleting its row (or whatever the client's
  // `DeleteFunc` does). Inside the job's transaction when `Tx()` was called:
  // the deletion then commits together with the handler's writes. Call
  // `Done()` afterwards.
  absl::Status Delete();

  // Error()
  //
  // Records a failure: error_count + 1, last_error = `message`, retry after
  // the backoff (or whatever the client's `ErrorFunc` does). An open `Tx()`
  // is rolled back first, so the handler's partial writes do not commit.
  // Call `Done()` afterwards.
  absl::Status Error(absl::string_view message);

  // Done()
  //
  // Rolls back an open `Tx()`, releases the advisory lock and returns the
  // connection to the pool. Idempotent.
  void Done();

  // Conn()
  //
  // The connection that holds this job's lock (null after `Done()`). Use it
  // for the job's own queries; do not close it or leave a transaction open.
  // On the fast path: a pooled connection taken on first use (null if none
  // could be had within the client's acquire timeout).
  PGconn* Conn();

  // Tx()
  //
  // A transaction on `Conn()`, begun on the first call. Write your effects
  // through it: `Delete()` commits it, `Error()` and `Done()` roll it back.
  // With an injected transaction (qg_testing::TestInjectJobTx), that one.
  absl::StatusOr<qg::Tx*> Tx();

  // The executor the verbs use: the open transaction if any, else Conn().
  Executor& executor();

  bool done() const;

  // Why a worker asked the handler to stop.
  enum class CancelReason {
    kNone,
    kTimedOut,  // ran past its type's timeout (`WorkMap::SetTimeout`)
    kShutdown,  // the pool is shutting down and its grace period is over
  };

  // Cancelled()
  //
  // True once the worker asked the handler to stop: the job ran past its
  // timeout, or the pool's shutdown grace period ran out. Long-running
  // handlers should poll it and return promptly. A timed-out job is failed
  // ("job timed out after ...") and retried with backoff whatever the handler
  // returns; a job cancelled by shutdown that returns an error is released
  // untouched for another worker (one that returns OK is deleted as usual).
  bool Cancelled() const { return cancel_.load() != 0; }
  CancelReason cancel_reason() const {
    return static_cast<CancelReason>(cancel_.load());
  }

  // Cancel()
  //
  // Asks the handler to stop (the first reason wins). Workers call it; tests
  // may too.
  void Cancel(CancelReason reason) {
    int expected = 0;
    cancel_.compare_exchange_strong(expected, static_cast<int>(reason));
  }

 private:
  friend class Client;
  friend class internal::FastPool;
  friend class ::qg_testing::JobPeer;
  Job() = default;
  bool own_tx_open() const { return own_tx_ != nullptr && own_tx_->open(); }
  // Reads a que_jobs row (queue, priority, run_at, job_id, job_class, args,
  // error_count, last_error) through `get(column)`.
  absl::Status LoadRow(
      const std::function<std::optional<std::string>(int)>& get);
  // The delay before the next attempt; InfiniteDuration when out of attempts.
  absl::Duration Backoff() const;
  // `message`, prefixed with kDeadMarker when `delay` (from Backoff()) says
  // the job is out of attempts.
  std::string ErrorMessage(absl::string_view message,
                           absl::Duration delay) const;

  int64_t id_ = 0;
  std::string queue_;
  int16_t priority_ = 100;
  absl::Time run_at_;
  std::string run_at_text_;
  std::string type_;
  std::string args_ = "[]";
  int32_t error_count_ = 0;
  std::optional<std::string> last_error_;

  std::shared_ptr<const JobHooks> hooks_;
  mutable std::mutex mu_;
  internal::PooledConn pooled_ ABSL_GUARDED_BY(mu_);
  PGconn* conn_ ABSL_GUARDED_BY(mu_) = nullptr;  // pooled_ or injected
  bool locked_ = false;  // holds pg_advisory_lock(id) on conn_
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<PgTx> own_tx_;   // from Tx()
  qg::Tx* injected_tx_ = nullptr;  // from a test or EnqueueInTx (sync)
  PgExecutor conn_exec_{nullptr};

  std::atomic<int> cancel_{0};

  // Fast path only.
  internal::JobSink* sink_ = nullptr;
  std::shared_ptr<internal::ConnPool> conn_source_;
  absl::Duration acquire_timeout_ = absl::Seconds(30);
  internal::Completion completion_;
};

}  // namespace qg

#endif  // QG_JOB_H_
