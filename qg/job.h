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
#include "qg/internal/lease.h"
#include "qg/internal/queries.h"
#include "qg/internal/sync.h"
#include "qg/job_end.h"
#include "qg/logger.h"

namespace qg {

class Job;

// UniqueOpts
//
// Makes a job unique: while a job with the same uniqueness key is stored in
// que_jobs (pending, scheduled, running, errored or dead), enqueueing another
// stores nothing and returns the stored job's id, flagged as a duplicate
// (`Client::EnqueueDetailed()`). A finished job's row is deleted, which frees
// its key. The key is either `key`, or derived from the job's type and,
// optionally, its queue, its args and a period (River's ByQueue, ByArgs and
// ByPeriod). Needs `qg migrate` (the `qg_unique_key` column and its unique
// index); on a database without them a unique job is `FailedPrecondition`
// and non-unique jobs work as before.
//
// Examples:
//   job.unique = qg::UniqueOpts{};                   // one per type
//   job.unique = qg::UniqueOpts{.by_args = true};    // one per (type, args)
//   job.unique = qg::UniqueOpts{.by_queue = true,
//                               .by_period = absl::Hours(1)};
//   job.unique = qg::UniqueOpts{.key = "invoice-42"};  // explicit
struct UniqueOpts {
  // An explicit key, stored as is (at most 1024 bytes, no NUL byte). Explicit
  // keys are global: two jobs of different types or queues with the same key
  // are duplicates. When set, the `by_*` fields must keep their defaults.
  // Default: "" (derive the key).
  std::string key;

  // Derived keys: "<type>:<32 hex digits>", the digits from a SHA-256 of the
  // type and of the parts below that are on.

  // Whether the queue is part of the key. Default: false (the same type in
  // two queues is a duplicate).
  bool by_queue = false;

  // Whether the args are part of the key. They are compared in a canonical
  // form: whitespace and the order of object members do not matter; strings
  // and numbers are compared as written ("\u0061" is not "a", 1 is not
  // 1.0). Default: false.
  bool by_args = false;

  // When positive, the period the job's run_at (or, without one, the
  // client's clock) falls in is part of the key: periods are consecutive
  // intervals of this length counted from the Unix epoch in UTC, so
  // `absl::Hours(1)` allows one job per clock hour and `absl::Hours(24)`
  // one per UTC day. Must not be negative. Default: zero (no period).
  absl::Duration by_period = absl::ZeroDuration();
};

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

  // When the job becomes runnable (stored with microsecond precision, finer
  // digits cut toward the past). From 0001-01-01 00:00:00 UTC up to, not
  // including, 9999-01-01 00:00:00 UTC, a dead job's run_at: anything else
  // (earlier years, the infinities, years past 9999) is `InvalidArgument`
  // before any SQL. Default: std::nullopt, meaning the database's now().
  std::optional<absl::Time> run_at;

  // Makes the job unique (see `UniqueOpts`). Default: std::nullopt (not
  // unique: every enqueue stores a job, as in Que).
  std::optional<UniqueOpts> unique;

  // The job's explicit flow-control key: limits with `Limit::KeyBy::kJob`
  // (qg/limits.h) count the jobs of one key together. 1 to 1024 bytes of
  // UTF-8 without NUL. Needs `qg migrate` (the qg_limit_key column), else
  // `FailedPrecondition`; `EnqueueStream` refuses it (use `EnqueueMany`).
  // Default: std::nullopt (limits keyed by job do not apply).
  std::optional<std::string> limit_key;

  // The jobs this one runs after (its parents, by id): it is stored waiting
  // (run_at 9000-01-01, so that no worker takes it: qg-cpp, Ruby Que,
  // que-go or qg) and becomes runnable in the transaction that completes
  // its last parent. Each parent must be waiting or running, or have
  // completed with a history record (then it counts as done); an unknown
  // id is `NotFound`, a dead or cancelled parent `FailedPrecondition`,
  // both at enqueue. Not with `unique`, `run_at` or `EnqueueStream`
  // (`InvalidArgument`); needs `qg migrate`. Finds its parents with one
  // scan of que_jobs (no index on job_id alone): for many jobs enqueued
  // together, see `Workflow`. Default: empty (no parents).
  std::vector<int64_t> depends_on;

  // What a parent that dies (out of attempts) or is cancelled does to this
  // job: cancel it (the default; its own children follow), or count as
  // settled, so that it runs once its other parents complete.
  enum class OnParentFailure { kCancel, kRun };
  OnParentFailure on_parent_failure = OnParentFailure::kCancel;

  // The batch this job joins (qg/batch.h: `Client::CreateBatch`), counted in
  // its progress and its callbacks. A batch that does not exist is
  // `NotFound`, a sealed one `FailedPrecondition`, at enqueue (nothing
  // stored). Needs `qg migrate`. Default: none.
  std::optional<int64_t> batch_id;
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

// The longest delay before a retry: one year. A longer backoff (a user's, or
// the default past about 75 failures) is cut to it, so that run_at stays an
// ordinary timestamp before a dead job's.
inline constexpr absl::Duration kMaxRetryDelay = absl::Hours(24 * 365);

// error_count^4 + 3 seconds, computed in floating point and capped at
// `kMaxRetryDelay`.
absl::Duration DefaultBackoff(int32_t error_count);

// Deletes the job's row (qg's Delete).
absl::Status DefaultDelete(Job& job, Executor& exec);

// Sets error_count = job.error_count() + 1, run_at = now() + backoff,
// last_error = message (qg's Error with `DefaultBackoff`).
absl::Status DefaultError(Job& job, Executor& exec, absl::string_view message);

// Records a failure with a custom backoff; what `DefaultError` does with
// `DefaultBackoff`. For building an `ErrorFunc`. `delay` =
// `absl::InfiniteDuration()` marks the job dead (see `kDeadMarker`); a finite
// delay is clamped to 0..`kMaxRetryDelay`. The message is stored as valid
// UTF-8 of at most 64 KiB (invalid bytes become U+FFFD, a longer message is
// cut on a character boundary), so that recording never fails on it.
absl::Status RecordError(Job& job, Executor& exec, absl::string_view message,
                         absl::Duration delay);

// How jobs finish; part of `ClientOptions`.
struct JobHooks {
  DeleteFunc delete_func;    // Default: DefaultDelete.
  ErrorFunc error_func;      // Default: RecordError with `backoff`.
  BackoffFunc backoff;       // Default: DefaultBackoff.
  int max_attempts = 0;      // Default: 0, no limit.
  Logger* logger = nullptr;  // Default: DefaultLogger().
  // Whether the database has `qg migrate`'s job history (qg_job_history):
  // then the default verbs write a finished job's record where its queue
  // has history on. Set by `Client::Create()`. Default: false.
  bool history = false;
};

// kMaxOutputBytes
//
// The most a job's output (`Job::SetOutput`) may hold, in bytes.
inline constexpr size_t kMaxOutputBytes = 64 * 1024;

// Job
//
// A locked job: its row, its lease (the advisory lock and where the job's
// connection comes from), an optional transaction and a cancel flag. The
// lease is released by `Done()` (or the destructor). Accessors are
// thread-safe; the verbs are meant for the one thread working the job,
// except that `Conn()` and `Done()` may race safely.
//
// Lifetime and threading (the contract in one place): accessors, `Cancel()`,
// `Cancelled()`, `end()` and `done()` may be called from any thread; the
// verbs, `Conn()` and `Tx()` are for the one thread working the job (except
// that `Conn()` and `Done()` may race safely). A job from
// `Client::LockJob()` may outlive its client (it keeps the connection pool
// and job counter alive; the client's logger, clock and hooks must still be
// alive). The `Job&` a worker passes to a handler is valid only until the
// handler returns.
//
// Outcomes: `Delete()`, `Error()`, `Snooze()` and `RecordCancelled()` each
// choose how the job ends. The first of them that succeeds is final: a later
// verb returns `FailedPrecondition` and changes nothing, and a worker never
// adds its default ending (delete on OK, record the error on failure) to an
// outcome the handler chose itself. `Done()` without a verb leaves the row as
// it was (released: it runs again).
//
// Jobs handed out by a fast (batched) `WorkerPool` differ in one way: the
// advisory lock is held by the pool's locker session, and `Conn()` is a pooled
// connection taken on first use. `Delete()` and `Error()` with the default
// hooks and no open transaction are applied in a batch after `Done()`; with
// `Tx()` open, `Delete()` deletes inside that transaction and commits, as on
// the qg-compatible path.
class Job {
 public:
  // Jobs come from `Client::LockJob()`, a `Worker` or a `WorkerPool`, which
  // build them with this constructor; tests use `qg_testing::NewTestJob()`.
  Job(internal::JobRow row, std::unique_ptr<internal::JobLease> lease,
      std::shared_ptr<const JobHooks> hooks);
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // The row's columns.
  int64_t id() const { return row_.key.id; }
  const std::string& queue() const { return row_.key.queue; }
  int16_t priority() const { return row_.key.priority; }
  absl::Time run_at() const { return row_.key.run_at; }
  const std::string& type() const { return row_.type; }
  const std::string& args() const { return row_.args; }
  int32_t error_count() const { return row_.error_count; }
  const std::optional<std::string>& last_error() const {
    return row_.last_error;
  }
  // run_at exactly as PostgreSQL printed it (the key the verbs match on).
  const std::string& run_at_text() const { return row_.key.run_at_text; }

  // Delete()
  //
  // Marks the job complete by deleting its row (or whatever the client's
  // `DeleteFunc` does). Inside the job's transaction when `Tx()` was called:
  // the deletion then commits together with the handler's writes. Call
  // `Done()` afterwards.
  absl::Status Delete();

  // Error()
  //
  // Records a failure: error_count + 1 (saturating), last_error = `message`
  // (as valid UTF-8, at most 64 KiB), retry after the backoff (or whatever
  // the client's `ErrorFunc` does). An open `Tx()` is rolled back first, so
  // the handler's partial writes do not commit. Call `Done()` afterwards.
  absl::Status Error(absl::string_view message);

  // Snooze()
  //
  // Reschedules the job `delay` from now without counting a failure:
  // error_count and last_error stay as they are. Inside the job's
  // transaction when `Tx()` was called: the new run_at then commits together
  // with the handler's writes. `InvalidArgument` for a negative or infinite
  // delay (nothing changes); a delay beyond `kMaxRetryDelay` is cut to it.
  // Handlers usually return `qg::Snooze(delay)` (qg/worker/work_map.h)
  // instead, and the worker calls this. Call `Done()` afterwards.
  absl::Status Snooze(absl::Duration delay);

  // RecordCancelled()
  //
  // Keeps the job as cancelled by an operator: run_at 9999-01-01 (no worker
  // takes it again), last_error "qg: cancelled: <why>" (followed by "last
  // error before the cancel:" and the job's earlier last_error, if any),
  // error_count unchanged; `Client::RetryJob` or `qg retry` revive it. An open
  // `Tx()` is rolled back first. Workers call it for a job `Client::CancelJob`
  // asked to stop. Call `Done()` afterwards.
  absl::Status RecordCancelled(absl::string_view why);

  // SetOutput()
  //
  // The job's output: the text of one JSON value (at most
  // `kMaxOutputBytes`), kept in its history record when its queue has
  // history on (see README, "Job history"); a later call replaces it.
  // Call it before the verb that completes the job (a handler does, before
  // returning OK). `InvalidArgument` for text that is not JSON, not UTF-8
  // or too large (the output is then unchanged); `FailedPrecondition` once
  // a verb chose the job's outcome. `qg::SetOutput()` (qg/typed.h) sets a
  // protobuf message as JSON.
  absl::Status SetOutput(absl::string_view json);

  // The output set so far (unset: none).
  std::optional<std::string> output() const;

  // MarkStarted()
  //
  // Notes that the job's handler starts now (its run's start in its history
  // record; by default, when the job was built). Workers call it.
  void MarkStarted();

  // Done()
  //
  // Rolls back an open `Tx()`, releases the advisory lock and returns the
  // connection to the pool. Idempotent.
  void Done();

  // How the verbs left the job: `JobEnd::kNone` until one of them
  // succeeded; `kReleased` after `Done()` without one.
  JobEnd end() const;

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
  // With a transaction given to `UseTransaction()`, that one.
  absl::StatusOr<qg::Tx*> Tx();

  // The executor the verbs use: the open transaction if any, else Conn().
  Executor& executor();

  bool done() const;

  // UseTransaction()
  //
  // Makes `tx` (owned by the caller) the job's transaction: `Tx()` returns it
  // and the verbs run inside it without ever committing or rolling it back.
  // For tests (`qg_testing::TestInjectJobTx`) and synchronous mode.
  void UseTransaction(qg::Tx* tx) { borrowed_tx_ = tx; }

  // UseConnection()
  //
  // Makes `conn` (owned by the caller) the job's connection instead of its
  // lease's. For tests (`qg_testing::TestInjectJobConn`).
  void UseConnection(PGconn* conn) {
    internal::MutexLock lock(mu_);
    conn_override_ = conn;
  }

  // Why a worker asked the handler to stop.
  enum class CancelReason {
    kNone,
    kTimedOut,   // ran past its type's timeout (`WorkMap::SetTimeout`)
    kShutdown,   // the pool is shutting down and its grace period is over
    kCancelled,  // an operator cancelled it (`Client::CancelJob`)
  };

  // Cancelled()
  //
  // True once the worker asked the handler to stop: the job ran past its
  // timeout, or the pool's shutdown grace period ran out. Long-running
  // handlers should poll it and return promptly. A timed-out job is failed
  // ("job timed out after ...") and retried with backoff whatever the handler
  // returns; a job cancelled by shutdown that returns an error is released
  // untouched for another worker (one that returns OK is deleted as usual);
  // a job an operator cancelled that returns an error is recorded as
  // cancelled (see `RecordCancelled`) and never retried.
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
  bool own_tx_open() const { return own_tx_ != nullptr && own_tx_->open(); }
  // The failure to record for `message`: the next error count, the backoff
  // (infinite when out of attempts) and the storable message.
  internal::JobError MakeError(absl::string_view message) const;
  // OK while no verb has chosen the job's outcome and it is not done;
  // otherwise `FailedPrecondition` naming `verb` and the outcome chosen.
  absl::Status Decided(absl::string_view verb) const;
  // After a verb wrote its change (`written`) itself: commits the job's own
  // transaction (`Tx()`) with it, or rolls that back when the write failed;
  // on success the lease has only the lock left to release and the job
  // ended as `end`. Returns the first error.
  absl::Status FinishWrite(absl::Status written, JobEnd end);

  // Seconds since the run started (`MarkStarted`).
  double SecondsSinceStart() const;
  // Notes the run's start and end in `outcome_` (batched writes).
  void NoteRunEnd();
  // The statement that records failure `e` on the job's connection.
  internal::Call ErrorCall(internal::JobError e) const;
  friend absl::Status DefaultDelete(Job& job, Executor& exec);
  friend absl::Status RecordError(Job& job, Executor& exec,
                                  absl::string_view message,
                                  absl::Duration delay);

  const internal::JobRow row_;
  const std::shared_ptr<const JobHooks> hooks_;
  const std::unique_ptr<internal::JobLease> lease_;

  mutable internal::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  PGconn* conn_override_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::unique_ptr<PgTx> own_tx_;   // from Tx()
  qg::Tx* borrowed_tx_ = nullptr;  // from UseTransaction()
  PgExecutor conn_exec_{nullptr};
  internal::Outcome outcome_;
  std::atomic<JobEnd> end_{JobEnd::kNone};

  std::atomic<int> cancel_{0};
  // The run's start (steady clock, nanoseconds since its epoch).
  std::atomic<int64_t> started_ns_;
  std::optional<std::string> output_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qg

#endif  // QG_JOB_H_
