// qg/internal/job_ops.h
// -----------------------------------------------------------------------------
//
// Operators' changes to jobs (retry, delete), one job or a batch, each under
// the job's advisory lock: shared by `Client::RetryJob()` and `qg::Admin`.
//
// The protocol, for every job touched: take its lock with a try-lock (a job
// some session holds is running, or locked ahead by a fast pool: changing its
// row would make its worker's completion miss and the job run twice, so it is
// refused or skipped), change the row in its own autocommitted statement,
// and only then unlock. Never unlock before the change commits.
//
// Example:
//   QG_ASSIGN_OR_RETURN(PooledConn conn, pool->Acquire(absl::Seconds(30)));
//   absl::Status s = RetryJobUnderLock(conn, 42);
//   // FailedPrecondition while a worker holds job 42; NotFound if missing.
#ifndef QG_INTERNAL_JOB_OPS_H_
#define QG_INTERNAL_JOB_OPS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "qg/internal/conn_pool.h"
#include "qg/internal/queries.h"
#include "qg/job_end.h"

namespace qg::internal {

// The error for a job a worker holds, naming `id`.
absl::Status JobHeldError(int64_t id);

// Whether the database has `qg migrate`'s job history (qg_job_history).
absl::StatusOr<bool> HasHistory(PGconn* conn);

// Whether this session's role may write job history as the statements
// that finish jobs do (the schema has it, and the grants).
absl::StatusOr<bool> MayRecordHistory(PGconn* conn);

// PruneHistory()
//
// Deletes history records past retention (qg_history_settings), oldest
// first, in statements of at most `batch` records (each its own
// transaction: no long lock), until one deletes fewer or `budget` has
// passed. Returns how many it deleted; errors as the database reports
// them (42P01: no qg_job_history).
absl::StatusOr<int64_t> PruneHistory(PGconn* conn, int batch,
                                     absl::Duration budget);

// RetryJobUnderLock()
//
// Makes job `id` runnable now (a dead job also gets its attempts back, and
// so does a job an operator cancelled: see qg/internal/sql/retry_job.sql)
// under its lock. `FailedPrecondition` while a worker holds it, `NotFound`
// when there is no such job. `conn` must not be inside a transaction
// (`Internal` otherwise); it is discarded when its lock could not be
// released.
absl::Status RetryJobUnderLock(PooledConn& conn, int64_t id);

// What a job was before `RetryJobUnderLockDetailed()` made it runnable.
struct RetryOutcome {
  bool was_dead = false;       // out of attempts, or cancelled
  bool was_cancelled = false;  // cancelled by an operator
};

// RetryJobUnderLockDetailed()
//
// `RetryJobUnderLock()`, saying what the job was before.
absl::StatusOr<RetryOutcome> RetryJobUnderLockDetailed(PooledConn& conn,
                                                       int64_t id);

// DeleteJobUnderLock()
//
// Deletes job `id` under its lock; errors as `RetryJobUnderLock()`.
absl::Status DeleteJobUnderLock(PooledConn& conn, int64_t id);

// CancelJob()
//
// Cancels job `id` (see `Client::CancelJob`): under its lock when nobody
// holds it; otherwise asks the holder through qg_cancellations + NOTIFY and
// waits up to `wait` for a qg-cpp pool to acknowledge. The request belongs
// to the run that holds the job when it is made and expires when the wait
// ends (qg/internal/sql/request_cancel.sql): a requester killed while it
// waits leaves nothing that could cancel a later run. When that run ends
// while it waits, the job is looked at again (cancelled as it is when
// nobody holds it; asked again when another run holds it). It is withdrawn
// when the wait ends unacknowledged (`FailedPrecondition`), and when
// `interrupted` (asked every few milliseconds while waiting) returns true:
// `Aborted`, nothing cancelled (or `kStopping` when the holder took it
// first).
absl::StatusOr<CancelOutcome> CancelJob(
    PooledConn& conn, int64_t id, absl::Duration wait,
    const std::function<bool()>& interrupted = nullptr);

// SetQueuePaused(), PausedQueues()
//
// Pause or resume `queue` for qg-cpp pools (qg_queues + NOTIFY); the paused
// queues. `InvalidArgument` for an empty name; `FailedPrecondition` without
// the table (`qg migrate`).
absl::Status SetQueuePaused(PooledConn& conn, absl::string_view queue,
                            bool paused);
absl::StatusOr<std::vector<std::string>> PausedQueues(PooledConn& conn);

// What a batch change did.
struct BatchOutcome {
  int64_t changed = 0;    // retried or deleted
  int64_t held = 0;       // held by a worker: left alone
  int64_t moved = 0;      // key changed or row gone since listed: left alone
  int64_t cancelled = 0;  // retry only: cancelled by an operator, left alone
};

// RetryKeysUnderLock(), DeleteKeysUnderLock()
//
// The same for the jobs with `keys` (as listed moments ago): one try-lock
// round trip for all, one statement changing the locked ones by key (an index
// lookup each), one unlock round trip after it committed. A bulk retry
// leaves the jobs an operator cancelled (counted in `cancelled`): a
// cancelled job is not a dead one, and only a retry by id revives it.
absl::StatusOr<BatchOutcome> RetryKeysUnderLock(PooledConn& conn,
                                                absl::Span<const JobKey> keys);
absl::StatusOr<BatchOutcome> DeleteKeysUnderLock(PooledConn& conn,
                                                 absl::Span<const JobKey> keys);

}  // namespace qg::internal

#endif  // QG_INTERNAL_JOB_OPS_H_
