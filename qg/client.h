// qg/client.h
// -----------------------------------------------------------------------------
//
// `qg::Client` enqueues jobs into `que_jobs` and locks them for workers (Go
// qg's `Client`). Thread-safe: one Client may be shared by all threads. It
// owns a bounded pool of libpq connections; a locked `Job` borrows one until
// `Job::Done()`.
//
// Lifetime and threading (the contract in one place):
//   - Every method may be called from any thread, concurrently, including
//     from a job's handler.
//   - What the client is given must outlive it and every job it hands out:
//     `ClientOptions::logger`, `clock` and whatever its hooks and the
//     synchronous runner refer to (such as a `WorkMap`).
//   - A `Job` from `LockJob()` may outlive the client: it keeps the
//     connection pool and the job counter it uses alive, so destroying the
//     client first and finishing the job afterwards is fine.
//   - A `Worker` or `WorkerPool` must not outlive its client while it runs:
//     shut it down first. Debug builds abort with a message when a client is
//     destroyed under a running pool or worker.
//   - After `Close()`, every call that needs the database returns
//     `FailedPrecondition` ("client is closed"), a pool cannot start on it,
//     and running pools take no new jobs (running ones finish).
//
// Example:
//   qg::ClientOptions options;
//   options.conninfo = "dbname=app";
//   QG_ASSIGN_OR_RETURN(std::unique_ptr<qg::Client> client,
//                       qg::Client::Create(options));
//   qg::NewJob job;
//   job.type = "SendWelcomeEmail";
//   job.args = R"([42])";
//   QG_ASSIGN_OR_RETURN(int64_t id, client->Enqueue(job));
//
// Unique jobs (see `UniqueOpts` in qg/job.h): enqueueing a job whose key a
// stored job holds stores nothing and returns the stored job's id;
// `EnqueueDetailed()` says which happened:
//   job.unique = qg::UniqueOpts{.by_args = true};
//   QG_ASSIGN_OR_RETURN(qg::EnqueueResult r, client->EnqueueDetailed(job));
//   if (r.duplicate) LOG(INFO) << "already queued as job " << r.id;
//
// Errors, one meaning each: missing type or malformed input →
// `InvalidArgument`; `que_jobs` missing → `FailedPrecondition`; database
// unreachable or connection lost → `Unavailable` (retry); serialization
// failure or deadlock → `Aborted` (retry the transaction); lock attempts
// exhausted → `ErrAgain()` (`Unavailable`). Database errors carry their
// SQLSTATE as a payload (`qg::SqlState`).
#ifndef QG_CLIENT_H_
#define QG_CLIENT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libpq-fe.h"
#include "qg/batch.h"
#include "qg/clock.h"
#include "qg/errors.h"
#include "qg/executor.h"
#include "qg/history.h"
#include "qg/internal/conn_pool.h"
#include "qg/internal/job_counter.h"
#include "qg/internal/queries.h"
#include "qg/internal/sync.h"
#include "qg/job.h"
#include "qg/logger.h"
#include "qg/stats.h"
#include "qg/workflow.h"

namespace qg {

// Performs a job inline, as a worker would: see `ClientOptions::synchronous`.
using SynchronousRunner = std::function<absl::Status(Job& job)>;

// ConnectionPooling
//
// What stands between a client and PostgreSQL. A direct connection and a
// session-mode pooler (PgBouncer `pool_mode = session`) keep one server
// session per client connection; a transaction-mode pooler (`pool_mode =
// transaction` or `statement`) lends a session per transaction, so nothing a
// session remembers (prepared statements, settings, advisory locks, LISTEN)
// lasts from one transaction to the next.
enum class ConnectionPooling {
  // Find out at `Client::Create()` (two probing connections, a few
  // round trips).
  kDetect,
  // Direct, or a session pooler: statements are prepared once per
  // connection, and worker pools may run.
  kSession,
  // A transaction pooler: statements are sent unprepared, and worker pools,
  // `Client::LockJob` and the synchronous runner, which need a session of
  // their own, refuse to start (`FailedPrecondition`).
  kTransaction,
};

// ClientOptions
//
// Everything a Client needs; only `conninfo` is required.
struct ClientOptions {
  // A libpq connection string or URI, e.g. "dbname=app" or
  // "postgres://user:secret@db/app". Never logged with its password.
  std::string conninfo;

  // The most connections the client opens (at least 1). Each locked job of
  // the qg-compatible path holds one until `Done()`, so such a pool needs one
  // per worker. Default: 10.
  int max_conns = 10;

  // How long an operation waits for a free connection before `Unavailable`.
  // Default: 30s.
  absl::Duration acquire_timeout = absl::Seconds(30);

  // Where qg logs. Default: nullptr, meaning glog (`DefaultLogger()`).
  Logger* logger = nullptr;

  // How a finished job is removed. Default: empty, meaning `DefaultDelete`
  // (delete the row).
  DeleteFunc delete_func;

  // How a failure is recorded. Default: empty, meaning `RecordError` with
  // `backoff`.
  ErrorFunc error_func;

  // The retry delay after the n-th failure, used by the default `error_func`.
  // Default: empty, meaning `DefaultBackoff` (n^4 + 3 seconds).
  BackoffFunc backoff;

  // The most attempts a job gets: after its `max_attempts`-th failure it is
  // kept as dead (see `kDeadMarker`) instead of retried. Used by the default
  // `error_func`. Default: 0, no limit (qg's behaviour).
  int max_attempts = 0;

  // Synchronous mode, for development: when set, `Enqueue` and `EnqueueInTx`
  // (and their `Detailed` forms) store the job and then run it inline with
  // this runner, on the calling thread, exactly as a worker would (delete on
  // success, record the error and keep the job for a retry on failure), and
  // return the handler's error if it failed. `qg::Synchronously(&work_map)`
  // (qg/worker/work_map.h) makes one from a WorkMap. Default: empty (off).
  // The bulk calls, `EnqueueMany`, `EnqueueManyDetailed` and `EnqueueStream`
  // (and so `PeriodicEnqueuer`), store their jobs for workers and run none:
  // they store every job or none, in one transaction, and report per job,
  // which inline handlers, each able to fail, would contradict.
  SynchronousRunner synchronous;

  // The clock the client and its worker pools decide by. Default: nullptr,
  // meaning `RealClock()`.
  const Clock* clock = nullptr;

  // What stands between the client and the server (see ConnectionPooling).
  // Default: kDetect.
  ConnectionPooling pooling = ConnectionPooling::kDetect;
};

// EnqueueResult
//
// What an enqueue did: the id of the job stored, and whether that job was
// already there. `duplicate` is true only for a unique job (`NewJob::unique`)
// whose key another stored job held: nothing was inserted and `id` is the
// holder's id.
struct EnqueueResult {
  int64_t id = 0;
  bool duplicate = false;

  friend bool operator==(const EnqueueResult&, const EnqueueResult&) = default;
};

// PrepareStatements()
//
// Prepares qg's statements on `conn` (Go qg's `PrepareStatements`). The
// client calls it once on every pooled connection it opens.
absl::Status PrepareStatements(PGconn* conn);

// The longest job type and queue name, in bytes. PostgreSQL refuses an
// index key longer than about 2.7 kB, and que_jobs' primary key holds the
// queue, qg_job_counts' (the throughput history) the queue and the type.
inline constexpr size_t kMaxJobTypeBytes = 1024;
inline constexpr size_t kMaxQueueBytes = 1024;

// ValidateNewJob()
//
// Checks `job` as `Client::Enqueue()` does (type given, priority within
// smallint, no NUL byte, type and queue valid UTF-8 of at most
// `kMaxJobTypeBytes` and `kMaxQueueBytes`, args valid JSON as PostgreSQL's
// json type takes it, run_at within the range `NewJob::run_at` documents,
// unique options consistent, an explicit unique key valid UTF-8): what the
// server would refuse is refused here, before any SQL runs. Returns the
// row to insert, with its uniqueness key when `job.unique` is
// set. `now` places a unique job without run_at in its `by_period` period;
// the one-argument form uses the real time.
absl::StatusOr<internal::InsertRow> ValidateNewJob(const NewJob& job);
absl::StatusOr<internal::InsertRow> ValidateNewJob(const NewJob& job,
                                                   absl::Time now);

// UniqueKey()
//
// The uniqueness key `job` would be stored with: its explicit
// `unique->key`, or the derived "<type>:<32 hex digits>" (see `UniqueOpts`),
// with `now` standing for a missing run_at. std::nullopt when the job is
// not unique. `InvalidArgument` for inconsistent options. Stable across
// processes, machines and qg-cpp versions that keep the "qg-unique-v1"
// derivation, so that admin tools can find a job by its key:
//   SELECT job_id FROM que_jobs WHERE qg_unique_key = $1
absl::StatusOr<std::optional<std::string>> UniqueKey(const NewJob& job,
                                                     absl::Time now);

class Client {
 public:
  // Create()
  //
  // Connects once to check the conninfo and that `que_jobs` exists with Que
  // 0.x's layout (schema version 3). Bad conninfo or `max_conns` < 1 →
  // `InvalidArgument`; unreachable server → `Unavailable`; table missing or
  // of another Que version → `FailedPrecondition` telling how to create it.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  // Closes the pool (see `Close()`).
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Enqueue()
  //
  // Stores `job` and returns its id; for a unique job whose key a stored job
  // holds, stores nothing and returns the stored job's id (use
  // `EnqueueDetailed()` to tell). The checks of `ValidateNewJob()` run
  // before any SQL: an empty type is `ErrMissingType()`; a NUL byte in a
  // field, a priority outside smallint, a type or queue that is not UTF-8 or
  // too long, args that are not JSON are `InvalidArgument`. A unique job on
  // a database without `qg migrate`'s additions is `FailedPrecondition`.
  absl::StatusOr<int64_t> Enqueue(const NewJob& job);

  // EnqueueDetailed()
  //
  // `Enqueue()`, saying whether the job was a duplicate. Unique jobs hold
  // under concurrency: of any number of clients enqueueing jobs with one
  // key at once, exactly one inserts and the others get its id with
  // `duplicate` true (the unique index decides, not a read before the
  // write). When the key's holder finishes while a duplicate is being
  // enqueued, the key is free again and the new job is inserted.
  absl::StatusOr<EnqueueResult> EnqueueDetailed(const NewJob& job);

  // EnqueueInTx()
  //
  // Stores `job` through the caller's open transaction, so the job commits
  // or rolls back atomically with the caller's other writes. The caller
  // commits or rolls back; the client never does. A unique job's key is
  // held from the insert: a concurrent enqueue of the same key waits for
  // the caller's transaction to end (then inserts if it rolled back, or
  // gets the id if it committed). In a REPEATABLE READ or SERIALIZABLE
  // transaction, a key taken by a transaction that committed after the
  // caller's snapshot is `Aborted` (retry the transaction). An invalid job
  // is refused before any SQL runs, so it leaves the transaction usable.
  // On a connection outside BEGIN (where the job would commit on its own,
  // whatever the caller does next) or in a failed transaction:
  // `FailedPrecondition`, before any SQL. That is checked on a `PGconn*`, a
  // `PgExecutor` and a `PgTx`; an `Executor` of another kind is trusted to
  // be inside a transaction.
  absl::StatusOr<int64_t> EnqueueInTx(const NewJob& job, Executor& tx);
  // The same on a libpq connection the caller owns, inside its BEGIN.
  absl::StatusOr<int64_t> EnqueueInTx(const NewJob& job, PGconn* tx_conn);

  // EnqueueInTxDetailed()
  //
  // `EnqueueInTx()`, saying whether the job was a duplicate.
  absl::StatusOr<EnqueueResult> EnqueueInTxDetailed(const NewJob& job,
                                                    Executor& tx);
  absl::StatusOr<EnqueueResult> EnqueueInTxDetailed(const NewJob& job,
                                                    PGconn* tx_conn);

  // EnqueueMany()
  //
  // Stores `jobs` with one INSERT per 1000 jobs (through `tx` when given, so
  // all of them commit or roll back with the caller; otherwise in one
  // transaction of the client's) and returns their ids in order. Each job is
  // validated as by `Enqueue()` before any SQL runs; the first invalid one
  // fails the call, nothing stored, with its error's code and a message
  // naming it, e.g. "job #1700 of 2500 (jobs[1699]): job type must be
  // specified". A `tx` outside a transaction is `FailedPrecondition`, as for
  // `EnqueueInTx()`. One NOTIFY per statement, not per job. Unique jobs
  // whose key is held (by a stored job, or by an earlier job of the same
  // call) are skipped and get the holder's id; `EnqueueManyDetailed()`
  // reports them. Synchronous mode does not run these jobs (see
  // `ClientOptions::synchronous`).
  absl::StatusOr<std::vector<int64_t>> EnqueueMany(
      const std::vector<NewJob>& jobs, Executor* tx = nullptr);

  // EnqueueManyDetailed()
  //
  // `EnqueueMany()` with one `EnqueueResult` per job, in order:
  //   jobs = {A (key k), B (key k), C (not unique)}, with no job holding k:
  //   -> {{.id = 7}, {.id = 7, .duplicate = true}, {.id = 8}}
  // A batch without unique jobs takes the same path as before unique jobs
  // existed, at the same speed.
  absl::StatusOr<std::vector<EnqueueResult>> EnqueueManyDetailed(
      const std::vector<NewJob>& jobs, Executor* tx = nullptr);

  // A source of jobs for `EnqueueStream()`: fills `job` and returns true, or
  // returns false when there are no more.
  using JobSource = std::function<bool(NewJob& job)>;

  // EnqueueStream()
  //
  // Streams jobs from `next` into que_jobs with COPY, without holding them
  // all in memory (a million jobs need a 64 KiB buffer), and returns how many
  // were stored. On `tx_conn` (the caller's connection, inside its BEGIN) the
  // jobs commit or roll back with the caller; without it, the client uses
  // one transaction of its own; a `tx_conn` outside BEGIN, or whose
  // transaction has failed, is `FailedPrecondition` before the COPY starts.
  // A job that fails validation aborts the COPY with its error, naming it
  // ("job #7 of the stream: ..."); so does an exception thrown by `next`,
  // as `Internal` ("EnqueueStream: the job source threw making job #7:
  // ..."): nothing is stored, and the caller's transaction must be rolled
  // back. Jobs without run_at get the transaction's now(), as a plain
  // INSERT would. Synchronous mode does not run these jobs.
  // Unique jobs are refused: COPY cannot skip a duplicate, so a job with
  // `unique` set aborts the stream with `InvalidArgument` (nothing stored);
  // enqueue unique jobs with `EnqueueMany()`, which reports duplicates.
  absl::StatusOr<int64_t> EnqueueStream(const JobSource& next,
                                        PGconn* tx_conn = nullptr);

  // EnqueueWorkflow()
  //
  // Stores the jobs of `workflow` (see qg/workflow.h) in one transaction
  // (`tx`'s when given, else one of the client's) and returns their ids in
  // the order they were added. Each job is validated as by `Enqueue()`
  // before any SQL; a job that names a handle not added before it is
  // `InvalidArgument`. A job with parents is stored waiting, as with
  // `NewJob::depends_on`; one without runs as any job. Each waiting job
  // costs one statement, with one scan of que_jobs (no index on job_id
  // alone): a workflow of thousands of jobs over a large queue takes
  // seconds to store.
  absl::StatusOr<std::vector<int64_t>> EnqueueWorkflow(const Workflow& workflow,
                                                       Executor* tx = nullptr);

  // CreateBatch()
  //
  // A new, open batch (qg/batch.h) with `options`' callbacks, each validated
  // as by `Enqueue()`; returns its id, for `NewJob::batch_id`. Through `tx`
  // when given (the batch exists once it commits). `FailedPrecondition`
  // without `qg migrate`'s batches.
  absl::StatusOr<int64_t> CreateBatch(const BatchOptions& options,
                                      Executor* tx = nullptr);

  // SealBatch()
  //
  // Seals batch `id`: it takes no more jobs (adding one is
  // `FailedPrecondition`). When every job it has is settled already (or it
  // has none), it finishes in this call's transaction: its callbacks are
  // enqueued. Sealing twice changes nothing. `NotFound`: no such batch.
  absl::Status SealBatch(int64_t id, Executor* tx = nullptr);

  // GetBatch()
  //
  // Batch `id`'s progress; `NotFound` when there is none.
  absl::StatusOr<BatchInfo> GetBatch(int64_t id);

  // GetParents()
  //
  // The parents of job `id` (its `NewJob::depends_on` and workflow edges),
  // in id order, with their state and, when recorded in history, their
  // outputs: what a child's handler reads to use its parents' results.
  // Empty for a job without parents. Edges are kept while the child is in
  // que_jobs or has a history record.
  absl::StatusOr<std::vector<ParentJob>> GetParents(int64_t id);

  // LockJob()
  //
  // Locks the next runnable job of `queue` (lowest priority, then oldest
  // run_at, then lowest id, among run_at <= now()) with a session-level
  // advisory lock. Returns null, not an error, when no job is ready. The job
  // holds a pooled connection until `Job::Done()`. Returns `ErrAgain()` when
  // 10 candidates in a row were finished by other workers between snapshot
  // and lock.
  absl::StatusOr<std::unique_ptr<Job>> LockJob(absl::string_view queue);

  // Stats()
  //
  // Counts per (queue, type); see `JobStats`.
  absl::StatusOr<std::vector<JobStats>> Stats();

  // GetJob()
  //
  // Whether job `id` is waiting, running, finished (with its history
  // record: `qg/history.h`) or unknown, args, last error and output cut at
  // 64 KiB of text each. Reads que_jobs by id (a scan: Que's table has no
  // index on job_id alone), then the record. For operators and tools,
  // not for a hot path.
  absl::StatusOr<JobLookup> GetJob(int64_t id);

  // DeadJobs()
  //
  // Jobs that ran out of attempts, oldest first, at most `limit`.
  absl::StatusOr<std::vector<JobInfo>> DeadJobs(int limit = 100);

  // RetryJob()
  //
  // Makes job `id` runnable now; a dead job also gets its error_count reset,
  // so it has its full attempts again. `NotFound` if there is no such job;
  // `FailedPrecondition` while a worker holds the job (it is running, or
  // locked ahead by a fast pool): retrying it then would rewrite the key its
  // worker finishes it by and make it run twice.
  absl::Status RetryJob(int64_t id);

  // CancelJob()
  //
  // Cancels job `id`. A job nobody holds is kept as cancelled at once
  // (`CancelOutcome::kCancelled`): like a dead job, run_at 9999-01-01 and
  // last_error "qg: cancelled: ...", its error_count unchanged, so no worker
  // takes it again, `qg jobs --dead` lists it and `RetryJob()` revives it
  // (kept rather than deleted, so an operator can see and undo it). A job a
  // qg-cpp worker pool is running (or has locked ahead) gets
  // `Job::Cancelled()` true within about a second: its pool acknowledges the
  // request, which this call waits for up to `wait`
  // (`CancelOutcome::kStopping`); a handler that then returns an error gets
  // the job recorded as cancelled, never retried (one that completes
  // anyway completes it). A job held by any other worker (Ruby Que, que-go,
  // qg) cannot be cancelled while it runs: `FailedPrecondition`.
  // `NotFound` when there is no such job.
  absl::StatusOr<CancelOutcome> CancelJob(
      int64_t id, absl::Duration wait = absl::Milliseconds(1500));

  // PauseQueue(), ResumeQueue()
  //
  // Pauses `queue` for qg-cpp worker pools: within about a second they lock
  // no new job of it (told through NOTIFY; they also read the state
  // whenever they lock), give back jobs they locked ahead, and let running
  // jobs finish; ResumeQueue() undoes it. The state lives in qg_queues, so
  // it survives restarts. Ruby Que 0.x, que-go and qg workers do not know
  // of it and keep working the queue: a pause holds only where every worker
  // of the queue is qg-cpp. `InvalidArgument` for an empty name;
  // `FailedPrecondition` without `qg migrate`.
  absl::Status PauseQueue(absl::string_view queue);
  absl::Status ResumeQueue(absl::string_view queue);

  // PausedQueues()
  //
  // The queues paused now, by name.
  absl::StatusOr<std::vector<std::string>> PausedQueues();

  // Close()
  //
  // Closes idle connections; connections held by locked jobs close when the
  // jobs are done. Later calls return `FailedPrecondition`; worker pools on
  // this client take no new jobs (say so once in the log) and wait for their
  // `Shutdown()`. Idempotent.
  void Close();

  // Whether `Close()` was called.
  bool closed() const;

  // transaction_pooled()
  //
  // Whether the client reaches the server through a transaction-mode pooler
  // (`ClientOptions::pooling`, detected or given).
  bool transaction_pooled() const { return transaction_pooled_; }

  // RequireSession()
  //
  // `OkStatus()` unless the client is transaction-pooled; then a
  // `FailedPrecondition` that says `what` needs a session of its own and
  // what to do.
  absl::Status RequireSession(absl::string_view what) const;

  Logger& logger() const { return *logger_; }
  const ClientOptions& options() const { return options_; }
  const Clock& clock() const { return *clock_; }

  // How this client's jobs finish (its options' hooks), for the jobs its
  // worker pools build.
  const std::shared_ptr<const JobHooks>& hooks() const { return hooks_; }

  // The client's connection pool, which worker pools borrow connections
  // from for their jobs' `Conn()`.
  const std::shared_ptr<internal::ConnPool>& conn_pool() const { return pool_; }

  // Where this client's workers count finished jobs (qg_job_counts); shared
  // by the jobs that count into it, which may outlive the client.
  const std::shared_ptr<internal::JobCounter>& job_counter() const {
    return counter_;
  }

 private:
  friend class Worker;
  friend class WorkerPool;
  // A pool or worker starts (stops) using the client: it must not be
  // destroyed before they stop (checked in debug builds).
  void AddUser() { users_.fetch_add(1); }
  void RemoveUser() { users_.fetch_sub(1); }

  Client(ClientOptions options, std::shared_ptr<internal::ConnPool> pool,
         std::shared_ptr<const JobHooks> hooks, bool transaction_pooled);
  // Runs one of the client's statements on one of its pooled connections:
  // prepared, unless transaction-pooled.
  absl::StatusOr<PgResult> RunOnPooled(PGconn* conn,
                                       const internal::Call& call) const;
  absl::StatusOr<EnqueueResult> EnqueueSync(const internal::InsertRow& row,
                                            Executor* tx);
  absl::StatusOr<EnqueueResult> EnqueueRow(const internal::InsertRow& row,
                                           Executor* tx);
  // OK when the database has the unique key column and index (checked once
  // through `exec`, then remembered); otherwise `FailedPrecondition`.
  absl::Status CheckUniqueSchema(Executor& exec);
  // Whether a flow-control limit applies to `queue` (asked on `conn` at
  // most once a second per queue; false without the qg_limits table; the
  // error of any other failure).
  absl::StatusOr<bool> QueueLimited(PGconn* conn, absl::string_view queue);
  // LockJob() for a queue with limits: qg_lock_jobs() admits the job.
  absl::StatusOr<std::unique_ptr<Job>> LockLimitedJob(internal::PooledConn conn,
                                                      absl::string_view queue);

  const ClientOptions options_;
  std::shared_ptr<internal::ConnPool> pool_;
  std::shared_ptr<const JobHooks> hooks_;
  Logger* logger_;
  const Clock* clock_;
  std::atomic<bool> unique_schema_ok_{false};
  std::shared_ptr<internal::JobCounter> counter_;
  std::atomic<int> users_{0};
  // Flow control on the qg-compatible path: per queue, whether limits
  // apply and when that was read; the client's id for per-pool limits.
  internal::Mutex limits_mu_;
  absl::flat_hash_map<std::string, std::pair<bool, absl::Time>> limited_
      ABSL_GUARDED_BY(limits_mu_);
  const int64_t limit_scope_;
  const bool transaction_pooled_;
};

}  // namespace qg

#endif  // QG_CLIENT_H_
