// qg/internal/sql.h
// -----------------------------------------------------------------------------
//
// Every SQL statement qg-cpp sends, in one place: its name (the name it is
// prepared under, and how errors name it), its parameters, and its text,
// which lives in `qg/internal/sql/<file>.sql` and is compiled in (with the
// clauses several statements share written once, in
// `qg/internal/sql/fragments/`, see `sql/embed.sh`). Code builds calls
// through the typed wrappers of `qg/internal/queries.h`, never from SQL text
// of its own.
//
// Example:
//   const sql::Statement& s = sql::kInsertJob;
//   s.name;    // "qg_insert_job"
//   s.params;  // "$1 queue text, $2 priority smallint, ..."
#ifndef QG_INTERNAL_SQL_H_
#define QG_INTERNAL_SQL_H_

#include <vector>

#include "absl/status/status.h"
#include "libpq-fe.h"
#include "qg/internal/sql_text.h"

namespace qg::internal::sql {

// Statement
//
// One statement. `text` may hold several statements only when `params` is
// empty (then it is sent through the simple query protocol).
struct Statement {
  const char* name;
  const char* params;
  const char* text;
};

// The run_at of a dead job (out of attempts): so far ahead that no worker,
// qg-cpp's or a peer's, takes it again, yet an ordinary timestamp every
// client library can read. Defined once, in qg/internal/BUILD.bazel.
inline constexpr const char* kDeadRunAt = sql_text::kDeadRunAt;

// Que 0.x's protocol (the qg-compatible path and the client).
extern const Statement kLockJob;
extern const Statement kCheckJob;
extern const Statement kDeleteJob;
extern const Statement kSetError;
extern const Statement kSnoozeJob;
extern const Statement kUnlockJob;
extern const Statement kTryLockJob;

// Enqueueing.
extern const Statement kInsertJob;
extern const Statement kInsertJobReturningRow;
extern const Statement kInsertMany;
extern const Statement kCopyJobs;
extern const Statement kTransactionNow;
extern const Statement kDbClock;

// Reading and operating.
extern const Statement kJobStats;
extern const Statement kDeadJobs;
extern const Statement kRetryJob;
extern const Statement kInspectSchema;

// Operating (//qg:admin): listing, one job, bulk changes under try-locks.
extern const Statement kListJobs;
extern const Statement kGetJob;
extern const Statement kJobHeld;
extern const Statement kTryLockBatch;
extern const Statement kRetryBatch;
extern const Statement kMigrateLock;

// The batched ("fast") path: the locker session.
extern const Statement kHasLockFunction;
extern const Statement kLockerSettings;
extern const Statement kListen;
extern const Statement kSessionTimeout;
extern const Statement kLockJobs;
extern const Statement kSweep;
extern const Statement kConfirmBatch;
extern const Statement kDeleteBatch;
extern const Statement kDeleteById;
extern const Statement kErrorBatch;
extern const Statement kErrorById;
extern const Statement kUnlockBatch;
extern const Statement kNextDue;
extern const Statement kSnoozeBatch;
extern const Statement kSnoozeById;

// Queue and job control (qg_queues, qg_cancellations).
extern const Statement kSetPaused;
extern const Statement kPausedQueues;
extern const Statement kQueuePaused;
extern const Statement kCancelUnheld;
extern const Statement kRequestCancel;
extern const Statement kCancelAcknowledged;
extern const Statement kWithdrawCancel;
extern const Statement kPendingCancels;
extern const Statement kAckCancels;
extern const Statement kListenControl;

// The channel pause, resume and cancel requests go to.
inline constexpr char kControlChannel[] = "qg_control";

// Throughput history (qg_job_counts).
extern const Statement kCountJobs;
extern const Statement kTrimCounts;

// Unique jobs (schema/qg_additions.sql: que_jobs.qg_unique_key). Run by
// text, never prepared: a database without the additions must still let
// every other statement prepare.
extern const Statement kHasUniqueKey;
extern const Statement kInsertUniqueJob;
extern const Statement kInsertManyUnique;

// Periodic jobs (schema/qg_additions.sql: qg_periodic). Run by text.
extern const Statement kHasPeriodicTable;
extern const Statement kPeriodicClaim;
extern const Statement kPeriodicLock;
extern const Statement kPeriodicRecord;
extern const Statement kPeriodicHeartbeat;
extern const Statement kPeriodicList;
extern const Statement kPeriodicRemove;
extern const Statement kPeriodicNow;

// The web console (//qg/console): read-only views. Run by text, never
// prepared (qg_queues and qg_job_counts may be missing).
extern const Statement kConsoleTables;
extern const Statement kConsoleOverview;
extern const Statement kConsoleQueues;
extern const Statement kConsoleThroughput;

// The channel qg_notify_jobs() notifies on (schema/qg_additions.sql).
inline constexpr char kNotifyChannel[] = "qg_jobs";

// The statements every pooled client connection prepares.
const std::vector<const Statement*>& ClientStatements();

// The statements the fast path's locker session prepares.
const std::vector<const Statement*>& LockerStatements();

// PrepareAll()
//
// Prepares `statements` on `conn` under their names. Errors name the
// statement that failed.
absl::Status PrepareAll(PGconn* conn,
                        const std::vector<const Statement*>& statements);

}  // namespace qg::internal::sql

#endif  // QG_INTERNAL_SQL_H_
