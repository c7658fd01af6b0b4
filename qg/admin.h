// qg/admin.h
// -----------------------------------------------------------------------------
//
// `qg::Admin` operates a queue: creates the schema, reports statistics, lists
// and inspects jobs, retries, deletes or cancels them without ever rewriting
// a job under the worker running it, pauses and resumes queues, and lists
// and removes periodic schedules. The `qg` command line, the web console and
// your own tools share it; each operation shares its implementation with the
// library call of the same name (`Client::CancelJob`, `ListPeriodic`, ...).
// Thread-safe; it owns a small connection pool of its own and works before
// `que_jobs` exists (for `Migrate()`).
//
// Every change to a job takes the job's advisory lock first (a try-lock, the
// lock Que's workers hold while they run a job), changes the row, commits,
// and only then unlocks. A job some session holds is running, or locked
// ahead by a fast worker pool: single-job changes refuse it
// (`FailedPrecondition`), bulk changes skip and count it.
//
// Example:
//   QG_ASSIGN_OR_RETURN(std::unique_ptr<qg::Admin> admin,
//                       qg::Admin::Connect({.conninfo = "dbname=app"}));
//   QG_RETURN_IF_ERROR(admin->Migrate().status());
//   QG_ASSIGN_OR_RETURN(qg::JobPage page,
//                       admin->ListJobs({.state = qg::JobState::kDead}));
//   for (const qg::JobRecord& job : page.jobs) {
//     printf("%lld %s: %s\n", (long long)job.id, job.type.c_str(),
//            job.last_error_line.c_str());
//   }
//   QG_ASSIGN_OR_RETURN(qg::BulkResult r,
//                       admin->RetryJobs({.state = qg::JobState::kDead}));
//   // r.changed jobs run again; r.skipped_held were being worked.
#ifndef QG_ADMIN_H_
#define QG_ADMIN_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/batch.h"
#include "qg/history.h"
#include "qg/job_end.h"
#include "qg/job_record.h"
#include "qg/limits.h"
#include "qg/periodic.h"
#include "qg/stats.h"
#include "qg/workflow.h"

namespace qg {

namespace internal {
class ConnPool;
class PooledConn;
}  // namespace internal

// AdminOptions
struct AdminOptions {
  // A libpq connection string or URI, e.g. "dbname=app" or
  // "postgres://user:secret@db/app". Required. Never shown with its secrets.
  std::string conninfo;

  // The most connections the admin opens (at least 1). Default: 2.
  int max_conns = 2;

  // How long an operation waits for a free connection before `Unavailable`.
  // Default: 30s.
  absl::Duration acquire_timeout = absl::Seconds(30);
};

// MigrateResult
struct MigrateResult {
  // True when `Migrate()` created que_jobs; false when it was there already.
  bool created = false;
  // Que's schema version of the table (the table comment): 3.
  int schema_version = 3;
};

// FastPathReport
//
// Which worker path a `WorkerPool` (default `WorkerMode::kFast`) would take
// on this database. Information, not an error: both paths work the queue.
struct FastPathReport {
  // Whether qg_lock_jobs() (added by `Migrate()`) exists.
  bool available = false;
  // One line, e.g. "fast: qg_lock_jobs() is installed (one locker session
  // locks jobs in batches)" or "qg-compatible: qg_lock_jobs() is missing (run
  // `qg migrate` to add it)".
  std::string reason;
};

// StatsReport
struct StatsReport {
  // Per (queue, type), ordered by queue then type; as `Client::Stats()`.
  std::vector<JobStats> groups;
  FastPathReport fast_path;
  // The queues paused for qg-cpp worker pools (`PauseQueue()`), by name,
  // whether or not they hold jobs now. Empty on a database without
  // `qg migrate`'s additions (nothing can be paused there).
  std::vector<std::string> paused_queues;

  // Whether `queue` is paused.
  bool paused(absl::string_view queue) const;
};

// JobState
//
// Which jobs a `JobFilter` selects. "Held" means that a session of this
// database holds the job's advisory lock (a lock on the same id in another
// database is another job's).
enum class JobState {
  kAny,
  kReady,      // due (run_at <= now()) and not held: waiting for a worker
  kRunnable,   // due, held or not (kReady and the due kWorking ones)
  kScheduled,  // due later (run_at > now()), not dead
  kWorking,    // held: running, or locked ahead by a fast worker pool
  kErrored,    // failed at least once (error_count > 0), dead ones included,
               // as `JobStats::count_errored` counts them
  kDead,       // out of attempts (run_at 9999-01-01; see `kDeadMarker`)
};

// The state's name as the command line spells it ("any", "ready", ...), and
// back (`InvalidArgument` listing the names for an unknown one).
absl::string_view JobStateName(JobState state);
absl::StatusOr<JobState> ParseJobState(absl::string_view name);

// JobFilter
//
// Which jobs an operation selects. Default: every job.
struct JobFilter {
  // Only jobs of this queue ("" is the default queue). Default: any queue.
  std::optional<std::string> queue;
  // Only jobs of this type (Ruby Que's job_class). Default: any type.
  std::optional<std::string> type;
  // Default: kAny.
  JobState state = JobState::kAny;
  // Only jobs whose last_error contains this text, ignoring case. Default:
  // empty, any last_error (or none).
  std::string error_contains;
};

// kShownChars
//
// How much of a job's args and last_error `Admin::GetJob()` reads: 64 KiB of
// text each (characters), whatever the row holds; `JobRecord` says when
// they were cut and how large they are.
inline constexpr int kShownChars = 64 * 1024;

// kShownLineChars
//
// How much of the first line of a job's last_error a listing reads.
inline constexpr int kShownLineChars = 1000;

// kOperatorMaxScan
//
// The `PageRequest::max_scan` of the web console's and `qg jobs`'s pages:
// a page looks at no more jobs than this, however few match its filter.
inline constexpr int kOperatorMaxScan = 10000;

// PageRequest
//
// Which page of a listing. Pages use keyset paging (the key after
// `after`), never OFFSET: a page costs the same on page 1 and page 10,000 of
// a million jobs, and paging while jobs come and go returns every job that
// stays put exactly once.
struct PageRequest {
  // At most this many jobs, 1..10000. Default: 50.
  int limit = 50;
  // Start after this row (the previous page's `next`). Default: the start.
  std::optional<JobCursor> after;
  // Look at no more than this many jobs (of the queue, after `after`) for
  // the page, matching the filter or not, so that a page's cost never
  // grows with the table (`kOperatorMaxScan` for people). A page that
  // stops there before it is full says so (`JobPage::scan_limited`) and
  // its `next` searches on. 0: no bound (walk until the page is full or
  // the jobs end). Default: 0.
  int max_scan = 0;
};

// JobPage
struct JobPage {
  std::vector<JobRecord> jobs;
  // Set when the page is full, or stopped at `PageRequest::max_scan`: pass
  // it as `PageRequest::after` for the next page (which may turn out
  // empty). Unset at the end.
  std::optional<JobCursor> next;
  // The page looked at `PageRequest::max_scan` jobs and stopped before it
  // was full: more may match after `next`.
  bool scan_limited = false;
};

// BulkResult
//
// What `RetryJobs()` or `DeleteJobs()` did.
struct BulkResult {
  // Jobs retried (or deleted).
  int64_t changed = 0;
  // Jobs a worker held (running, or locked ahead by a pool): left alone.
  int64_t skipped_held = 0;
  // Jobs that a worker finished or rescheduled between being listed and
  // being locked: left alone.
  int64_t skipped_moved = 0;
  // `RetryJobs()` only: jobs an operator cancelled (`JobRecord::cancelled()`)
  // that the filter selected: left alone. A cancelled job is not a dead
  // one; `RetryJob()` revives it by id.
  int64_t skipped_cancelled = 0;
};

// RetriedJob
//
// What a job was before `RetryJobDetailed()` made it runnable.
struct RetriedJob {
  // Dead: out of attempts, or cancelled; it got its attempts back.
  bool was_dead = false;
  // Cancelled by an operator (`CancelJob()`): revived.
  bool was_cancelled = false;
};

class Admin {
 public:
  // Connect()
  //
  // Connects once, to check the conninfo and reach the server; does not
  // require `que_jobs` (every operation but `Migrate()` checks it on first
  // use). Bad conninfo or `max_conns` < 1 → `InvalidArgument`; server
  // unreachable → `Unavailable`; bad credentials → `PermissionDenied`;
  // database missing → `FailedPrecondition`. Messages never hold a secret.
  static absl::StatusOr<std::unique_ptr<Admin>> Connect(AdminOptions options);

  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Migrate()
  //
  // Creates `que_jobs` (Ruby Que 0.x, schema version 3) if it is missing, and
  // adds qg-cpp's lock function and NOTIFY trigger (peers keep working).
  // Idempotent; concurrent calls are serialized. A que_jobs table of another
  // Que version → `FailedPrecondition`, and nothing changes.
  absl::StatusOr<MigrateResult> Migrate();

  // ReadOnlyReason()
  //
  // Why the server refuses changes, or "" when it takes them: a hot standby
  // (reads work there, and lag the primary; every change is refused with
  // `FailedPrecondition`), or `default_transaction_read_only`. Read from
  // settings the server reports (PostgreSQL 14+), without a round trip.
  absl::StatusOr<std::string> ReadOnlyReason();

  // Stats()
  //
  // Counts per (queue, type), and which worker path a pool would take.
  // que_jobs missing or of another Que version → `FailedPrecondition` (as
  // every operation below) saying how to fix it.
  absl::StatusOr<StatsReport> Stats();

  // ListJobs()
  //
  // The jobs `filter` selects, in the order workers take them (queue,
  // priority, run_at, job_id), one page at a time. With or without a queue,
  // a page walks que_jobs' primary key from the cursor and stops at the
  // limit (or after `page.max_scan` jobs); filters on type, state and error
  // text are checked along the way. Reads only what a listing shows: no
  // args, the first line of the last error. A bad limit or max_scan →
  // `InvalidArgument`.
  //
  // Example:
  //   qg::PageRequest page;
  //   do {
  //     QG_ASSIGN_OR_RETURN(qg::JobPage p, admin->ListJobs(filter, page));
  //     for (const qg::JobRecord& job : p.jobs) Show(job);
  //     page.after = p.next;
  //   } while (page.after.has_value());
  absl::StatusOr<JobPage> ListJobs(const JobFilter& filter,
                                   const PageRequest& page = {});

  // GetJob()
  //
  // Job `id`, with the pid of the session holding it if any, its args and
  // last error cut at `kShownChars` characters each (with their sizes).
  // `NotFound` when there is no such job in que_jobs (a finished one:
  // `LookUpJob()`). (Que's table has no index on job_id alone: this reads
  // the table, as do the other calls by id.)
  absl::StatusOr<JobRecord> GetJob(int64_t id);

  // LookUpJob()
  //
  // Whether job `id` is waiting, running, finished (with its history
  // record) or unknown (see `JobPhase`), args, last error and output cut at
  // `kShownChars` characters each. The same as `Client::GetJob()`.
  absl::StatusOr<JobLookup> LookUpJob(int64_t id);

  // ListBatches()
  //
  // Batches newest first, at most `limit` (1..10000); with `open_only`,
  // only those not finished yet (along their partial index).
  // `FailedPrecondition` without `qg migrate`'s batches.
  absl::StatusOr<std::vector<BatchInfo>> ListBatches(bool open_only = false,
                                                     int limit = 100);

  // GetBatch()
  //
  // Batch `id`'s progress (as `Client::GetBatch()`); `NotFound` when there
  // is none.
  absl::StatusOr<BatchInfo> GetBatch(int64_t id);

  // GetWorkflow()
  //
  // The workflow around job `id` (qg/workflow.h): every job linked to it by
  // dependency edges, either way and transitively, up to `max_nodes`
  // (1..10000; more: `truncated`), with each one's state, and the edges
  // among them. A job without edges gives itself alone (or nothing, when it
  // is unknown). Reads que_jobs once by id (a scan). `FailedPrecondition`
  // without `qg migrate`'s workflow schema.
  absl::StatusOr<WorkflowGraph> GetWorkflow(int64_t id, int max_nodes = 500);

  // ListHistory()
  //
  // History records matching `filter`, newest finished first, `limit`
  // (1..10000) at a time after `after` (a page's `next`). Records carry no
  // args and no output (`LookUpJob()` reads them) and the first line of
  // their last error. Walks the finished_at index: a page costs the same
  // wherever it is. `FailedPrecondition` without `qg migrate`'s history.
  absl::StatusOr<HistoryPage> ListHistory(
      const HistoryFilter& filter, int limit = 50,
      const std::optional<HistoryCursor>& after = std::nullopt);

  // HistorySettings()
  //
  // Whether history is on (the default and per queue) and its retention.
  absl::StatusOr<qg::HistorySettings> GetHistorySettings();

  // SetHistory()
  //
  // Turns history on or off for `queue` (std::nullopt: the queue follows
  // the default again). Takes effect with the next statement that finishes
  // one of its jobs, in every process. Records already written stay.
  absl::Status SetHistory(absl::string_view queue, std::optional<bool> on);

  // SetHistoryDefault()
  //
  // Turns history on or off for every queue without a setting of its own.
  absl::Status SetHistoryDefault(bool all_queues);

  // SetHistoryRetention()
  //
  // Keeps records for `keep` (0 to 1000 years; std::nullopt: no age bound)
  // and at most
  // `max_records` of them (std::nullopt: no bound; must not be negative).
  // Default: 7 days, 1,000,000 records.
  absl::Status SetHistoryRetention(std::optional<absl::Duration> keep,
                                   std::optional<int64_t> max_records);

  // PruneHistory()
  //
  // Deletes the records past retention now, in statements of 1,000 (each
  // its own transaction), and returns how many. Worker processes do this
  // every 10 seconds while their jobs finish.
  absl::StatusOr<int64_t> PruneHistory();

  // JobHeld()
  //
  // Whether a session of this database holds job `id`'s advisory lock (a
  // worker runs it, or a fast pool locked it ahead) right now. Reads
  // pg_locks only, never que_jobs: cheap to ask again and again (e.g.
  // until a job asked to stop has ended). False for a job that does not
  // exist.
  absl::StatusOr<bool> JobHeld(int64_t id);

  // RetryJob()
  //
  // Makes job `id` runnable now; a dead job also gets its attempts back
  // (error_count 0), and so does a job an operator cancelled (this is how a
  // cancelled job is revived). A dead or cancelled job that history moved
  // out of que_jobs is inserted again from its record (same id; the record
  // is deleted in the same statement). `FailedPrecondition` while a worker
  // holds it (running, or locked ahead by a fast pool); `NotFound` when there
  // is no such job. The same as `Client::RetryJob()`.
  absl::Status RetryJob(int64_t id);

  // RetryJobDetailed()
  //
  // `RetryJob()`, saying what the job was before: dead, cancelled (so that a
  // tool can tell its operator that a cancelled job was revived).
  absl::StatusOr<RetriedJob> RetryJobDetailed(int64_t id);

  // DeleteJob()
  //
  // Deletes job `id`. `FailedPrecondition` while a worker holds it;
  // `NotFound` when there is no such job.
  absl::Status DeleteJob(int64_t id);

  // RetryJobs()
  //
  // `RetryJob()` for every job `filter` selects (e.g. `{.state =
  // JobState::kErrored}` or `{.queue = "mail", .state = JobState::kDead}`),
  // a batch of up to 500 at a time, each job under its own try-lock: held
  // jobs are skipped and counted, never rewritten under their worker. Jobs
  // already due keep their run_at (and their place in line). Jobs an
  // operator cancelled are never retried in bulk, whatever the filter (a
  // cancelled job is kept like a dead one but is not one): they are skipped
  // and counted in `skipped_cancelled`; `RetryJob()` revives one by id.
  absl::StatusOr<BulkResult> RetryJobs(const JobFilter& filter);

  // DeleteJobs()
  //
  // `DeleteJob()` for every job `filter` selects, skipping held ones. A
  // filter that selects everything (no queue, type, state or error text) →
  // `InvalidArgument`: delete a queue's jobs, or the dead ones, not all.
  absl::StatusOr<BulkResult> DeleteJobs(const JobFilter& filter);

  // CancelJob()
  //
  // `Client::CancelJob()`: a job nobody holds is kept as cancelled at once
  // (`CancelOutcome::kCancelled`: dead, last_error "qg: cancelled: ...",
  // the error it had failed or died of kept below that line; bulk retries
  // leave it, `RetryJob()` revives it; cancelling it again changes
  // nothing); a job a qg-cpp worker pool runs is asked to stop, waiting up
  // to `wait` for its pool to acknowledge (`CancelOutcome::kStopping`). A
  // job held by a Ruby Que, que-go or qg worker cannot be cancelled while it
  // runs: `FailedPrecondition`. `NotFound` when there is no such job.
  //
  // The request applies to the run holding the job when it is made, and
  // only until the wait ends: it is withdrawn then, and a caller killed
  // while it waits leaves nothing that could cancel a later run. A caller
  // that can be told to give up (a signal) passes `interrupted`, asked every
  // few milliseconds while it waits: when it returns true the request is
  // withdrawn and the result is `Aborted` (nothing cancelled), or
  // `kStopping` when the pool took the request first.
  absl::StatusOr<CancelOutcome> CancelJob(
      int64_t id, absl::Duration wait = absl::Milliseconds(1500),
      const std::function<bool()>& interrupted = nullptr);

  // PauseQueue(), ResumeQueue()
  //
  // `Client::PauseQueue()` / `ResumeQueue()`: qg-cpp worker pools of `queue`
  // lock no new job of it within about a second (running jobs finish), until
  // it is resumed; the state survives restarts. Only qg-cpp pools know of
  // it: a pause holds only where every worker of the queue is qg-cpp.
  // `InvalidArgument` for an empty name (nothing changes);
  // `FailedPrecondition` without `qg migrate`.
  absl::Status PauseQueue(absl::string_view queue);
  absl::Status ResumeQueue(absl::string_view queue);

  // PausedQueues()
  //
  // The queues paused now, by name (empty without `qg migrate`).
  absl::StatusOr<std::vector<std::string>> PausedQueues();

  // SetLimit(), RemoveLimit(), ListLimits()
  //
  // Flow control (qg/limits.h) on the admin's pool: `qg::SetLimit()`,
  // `qg::RemoveLimit()` (false when there was none), `qg::ListLimits()`
  // (every limit with its use now). `InvalidArgument` for a bad limit;
  // `FailedPrecondition` without `qg migrate` (the list is empty then).
  absl::Status SetLimit(const Limit& limit);
  absl::StatusOr<bool> RemoveLimit(absl::string_view name);
  absl::StatusOr<std::vector<LimitInfo>> ListLimits();

  // ListPeriodic()
  //
  // `qg::ListPeriodic()`: every periodic schedule recorded in the database,
  // by name, with its last and next occurrence (after the real time), its
  // last job, and whether a running enqueuer registered it within
  // `registered_within`. `FailedPrecondition` without `qg migrate`.
  absl::StatusOr<std::vector<PeriodicInfo>> ListPeriodic(
      absl::Duration registered_within = kPeriodicRegisteredWithin);

  // RemovePeriodic()
  //
  // `qg::RemovePeriodic()`: forgets schedule `name`'s record (its jobs stay;
  // a process that still registers it starts a new record). `NotFound` when
  // there is no such record; `InvalidArgument` for an empty name.
  absl::Status RemovePeriodic(absl::string_view name);

  const AdminOptions& options() const { return options_; }

 private:
  Admin(AdminOptions options, std::shared_ptr<internal::ConnPool> pool);
  // A pooled connection, after checking (once) that que_jobs is usable.
  absl::StatusOr<internal::PooledConn> Acquire();
  absl::StatusOr<internal::PooledConn> AcquireForSchema();
  template <typename Change>
  absl::StatusOr<BulkResult> ForEachBatch(const JobFilter& filter,
                                          Change change);

  const AdminOptions options_;
  std::shared_ptr<internal::ConnPool> pool_;
  std::atomic<bool> schema_ok_{false};
};

}  // namespace qg

#endif  // QG_ADMIN_H_
