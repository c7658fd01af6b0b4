// qg/internal/queries.h
// -----------------------------------------------------------------------------
//
// Typed calls of qg's statements (`qg/internal/sql.h`) and the parsers of what
// they return. A `Call` is a statement with its text parameters; `Run`
// executes it by text, `RunPrepared` by name on a connection that prepared it
// (`sql::PrepareAll`), and a pipeline sends it (`qg/internal/pipeline.h`).
// Rows of que_jobs are read by column name (`JobRowReader`), never by
// position.
//
// Example:
//   QG_ASSIGN_OR_RETURN(PgResult r, RunPrepared(conn, queries::LockJob("")));
//   QG_ASSIGN_OR_RETURN(JobRowReader reader, JobRowReader::For(r));
//   QG_ASSIGN_OR_RETURN(JobRow row, reader.Read(r, 0));
#ifndef QG_INTERNAL_QUERIES_H_
#define QG_INTERNAL_QUERIES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "libpq-fe.h"
#include "qg/internal/sql.h"
#include "qg/job_end.h"
#include "qg/pg.h"

namespace qg::internal {

// JobKey
//
// The primary key of a que_jobs row: (queue, priority, run_at, job_id). The
// verbs delete and update by it, as Que does.
struct JobKey {
  std::string queue;
  int16_t priority = 100;
  // run_at as PostgreSQL printed it, so that it matches to the microsecond.
  std::string run_at_text;
  absl::Time run_at;
  int64_t id = 0;
  // Where the row was last read (its ctid as PostgreSQL printed it; empty:
  // unknown): a hint, not part of the key. qg_finish_batch_plain looks
  // there first and by the key when the row there is not this one any
  // more (updated, moved, gone).
  std::string row_tid;

  // Que's order: priority, then run_at, then id.
  friend bool operator<(const JobKey& a, const JobKey& b) {
    if (a.priority != b.priority) return a.priority < b.priority;
    if (a.run_at != b.run_at) return a.run_at < b.run_at;
    return a.id < b.id;
  }
};

// JobRow
//
// A que_jobs row as qg-cpp reads it.
struct JobRow {
  JobKey key;
  std::string type;  // job_class
  std::string args = "[]";
  int32_t error_count = 0;
  std::optional<std::string> last_error;
};

// InsertRow
//
// A validated job to insert (see `Client::Enqueue` for the validation).
struct InsertRow {
  std::string queue;
  int16_t priority = 100;
  std::optional<absl::Time> run_at;  // nullopt: the database's now()
  std::string type;
  std::string args = "[]";
  // The uniqueness key (`qg::UniqueOpts`); nullopt: not unique.
  std::optional<std::string> unique_key;
  // The explicit flow-control key (`qg::NewJob::limit_key`); nullopt: none.
  std::optional<std::string> limit_key;
  // The jobs it runs after (`qg::NewJob::depends_on`); empty: none. Such a
  // row is stored by `EnqueueChild`, one statement per row.
  std::vector<int64_t> depends_on;
  // Whether a parent that dies or is cancelled cancels it.
  bool cancel_on_parent_failure = true;
  // The batch it joins (`qg::NewJob::batch_id`); nullopt: none.
  std::optional<int64_t> batch_id;

  // Whether storing the row needs qg-cpp's schema additions (the
  // qg_unique_key, qg_limit_key and qg_batch_id columns): it is unique, has
  // a limit key or joins a batch.
  bool NeedsAdditions() const { return unique_key || limit_key || batch_id; }
};

// PeriodicRecord
//
// What a periodic schedule's record (qg_periodic) says after its occurrence
// was handled.
struct PeriodicRecord {
  std::string name;
  absl::Time last_occurrence;
  std::optional<int64_t> last_job_id;  // nullopt: keep the stored one
  std::string schedule;
  std::string time_zone;
};

// JobSnooze
//
// A reschedule without a failure: `delay` ahead of the database's now().
struct JobSnooze {
  JobKey key;
  absl::Duration delay;
};

// JobCount
//
// Finished jobs of one (minute, queue, job_class), by how they ended.
struct JobCount {
  absl::Time minute;
  std::string queue;
  std::string type;
  JobEndCounts ends;  // released ones are not stored
};

// JobError
//
// A failure to record: the new error_count, the delay before the retry
// (`absl::InfiniteDuration()`: dead) and the message (already storable text).
struct JobError {
  JobKey key;
  int32_t error_count = 0;
  absl::Duration delay;
  std::string message;
  // Seconds before the statement that the job's run started and ended
  // (the start of its first run and its history record; see
  // qg/internal/sql/fragments/history_insert.sql). Unset: it did not run.
  std::optional<double> started_ago;
  std::optional<double> ended_ago;
};

// JobFinish
//
// A completed job to delete, with what its history record keeps.
struct JobFinish {
  JobKey key;
  // Seconds before the statement that its run started and ended.
  double started_ago = 0;
  double ended_ago = 0;
  // The output its handler set (`Job::SetOutput`): JSON text.
  std::optional<std::string> output;
};

// HistoryListParams
//
// What `queries::HistoryList` selects (qg/internal/sql/history_list.sql).
struct HistoryListParams {
  std::optional<std::string> queue, type, outcome;
  std::optional<absl::Time> finished_from, finished_before;
  // The cursor: finished_at as the database printed it, and the job id.
  std::optional<std::string> after_finished_at;
  int64_t after_id = 0;
  int limit = 50;
  int max_chars = 1000;
};

// FinishedRow
//
// A record of qg_job_history, as read by qg_history_get / qg_history_list.
struct FinishedRow {
  int64_t id = 0;
  std::string queue;
  int16_t priority = 0;
  std::string type;
  std::string args;  // cut at the reader's limit
  int64_t args_bytes = 0;
  std::string outcome;
  int32_t attempts = 0;
  std::optional<absl::Time> enqueued_at;
  std::optional<absl::Time> first_started_at;
  std::optional<absl::Time> started_at;
  absl::Time finished_at;
  std::optional<absl::Duration> run_time;
  std::optional<std::string> last_error;  // cut at the reader's limit
  int64_t last_error_bytes = 0;
  std::optional<std::string> output;  // cut at the reader's limit
  int64_t output_bytes = 0;
  std::string finished_at_text;  // history_list only: the cursor's key
};

// Reads a row of qg_history_get or qg_history_list.
absl::StatusOr<FinishedRow> ReadFinishedRow(const PgResult& result, int row);

// ListJobsParams
//
// What `queries::ListJobs` selects (see qg/internal/sql/list_jobs.sql).
struct ListJobsParams {
  std::optional<std::string> queue;  // nullopt: any queue
  std::optional<std::string> type;   // nullopt: any job_class
  // "any", "ready", "runnable", "scheduled", "working", "errored" or "dead".
  std::string state = "any";
  std::optional<std::string> error_contains;  // nullopt: any last_error
  std::optional<JobKey> after;  // the previous page's last row; nullopt: start
  int limit = 50;
  // The most rows the page looks at; nullopt: no bound.
  std::optional<int64_t> max_scan;
};

// Call
//
// A statement with its parameters.
struct Call {
  const sql::Statement* statement;
  SqlParams params;
};

// Runs `call` by text (`PQexecParams`, or the simple protocol for a
// statement without parameters). Errors name the statement.
absl::StatusOr<PgResult> Run(PGconn* conn, const Call& call);

// Runs `call` by name; the connection must have prepared it.
absl::StatusOr<PgResult> RunPrepared(PGconn* conn, const Call& call);

// JobRowReader
//
// Reads que_jobs rows from a result by column name (queue, priority, run_at,
// job_id, job_class, args, error_count, last_error).
class JobRowReader {
 public:
  // The reader for `columns` (a result's column names, in order); `Internal`
  // naming the first of the eight columns that is missing.
  static absl::StatusOr<JobRowReader> For(
      const std::vector<std::string>& columns);
  static absl::StatusOr<JobRowReader> For(const PgResult& result);

  // Reads one row through `field(column index)` (nullopt for NULL).
  // `Internal` naming the column and its text when one does not parse. A
  // `row_tid` column, where there is one, is the key's `row_tid`.
  template <typename FieldFn>
  absl::StatusOr<JobRow> Read(FieldFn field) const;
  absl::StatusOr<JobRow> Read(const PgResult& result, int row) const;

 private:
  enum Column {
    kQueue,
    kPriority,
    kRunAt,
    kJobId,
    kJobClass,
    kArgs,
    kErrorCount,
    kLastError,
    kColumns
  };
  absl::StatusOr<JobRow> Parse(
      const std::optional<absl::string_view> (&fields)[kColumns]) const;
  int index_[kColumns];
  int row_tid_index_ = -1;  // optional
};

template <typename FieldFn>
absl::StatusOr<JobRow> JobRowReader::Read(FieldFn field) const {
  std::optional<absl::string_view> fields[kColumns];
  for (int c = 0; c < kColumns; ++c) fields[c] = field(index_[c]);
  absl::StatusOr<JobRow> row = Parse(fields);
  if (row.ok() && row_tid_index_ >= 0) {
    if (std::optional<absl::string_view> tid = field(row_tid_index_)) {
      row->key.row_tid = std::string(*tid);
    }
  }
  return row;
}

// Parses an int64 column of every row (e.g. the ids a batch returned).
absl::StatusOr<std::vector<int64_t>> ReadIds(const PgResult& result,
                                             int column);

// The calls, one per statement (parameter meanings in qg/internal/sql/).
namespace queries {
Call LockJob(absl::string_view queue);
Call CheckJob(const JobKey& key);
Call DeleteJob(const JobKey& key);
Call SetError(const JobError& error);
// DeleteJob and SetError where the schema has job history (they also write
// history records and the first run's start).
Call FinishJob(const JobFinish& finish);
Call SetErrorHistory(const JobError& error);
Call SnoozeJob(const JobSnooze& snooze);
Call UnlockJob(int64_t id);
Call TryLockJob(int64_t id);
Call InsertJob(const InsertRow& row);
Call InsertJobReturningRow(const InsertRow& row);
Call InsertMany(absl::Span<const InsertRow> rows);
// Stores `row`, which has parents (`depends_on`), as a waiting child; returns
// its id. Not prepared (the function exists only in a migrated schema).
Call EnqueueChild(const InsertRow& row);
// The parents of job `id`: parent_id, state, outcome, output.
Call JobParents(int64_t id);
// Batches (qg/batch.h): a new batch with its callbacks (nullopt: none);
// sealing; one batch's progress; the newest (open ones only).
Call BatchCreate(const std::string& description,
                 const std::optional<InsertRow>& on_success,
                 const std::optional<InsertRow>& on_finish);
Call BatchSeal(int64_t id);
Call BatchGet(int64_t id);
Call BatchList(bool open_only, int limit);
// The workflow around job `id`, up to `max_nodes` + 1 jobs: node and edge
// rows (kind, id, job_class, queue, state, child_id).
Call WorkflowGraph(int64_t id, int max_nodes);
Call TransactionNow();
// The database's now() in epoch seconds (db_now float8).
Call DbClock();
Call JobStats();
Call DeadJobs(int limit);
Call RetryJob(int64_t id);
Call InspectSchema();
Call ListJobs(const ListJobsParams& params);
// Job `id` with args and last_error cut at `max_chars` characters.
Call GetJob(int64_t id, int max_chars);
// Whether a session of this database holds job `id`'s lock (pg_locks only).
Call JobHeld(int64_t id);
Call TryLockBatch(absl::Span<const int64_t> ids);
Call RetryBatch(absl::Span<const JobKey> keys);
Call MigrateLock();
Call HasLockFunction();
Call LockerSettings();
Call Listen();
Call SessionTimeout(absl::Duration timeout);
// Up to `want` jobs of `queue`: first those after `rewind` up to `after`,
// then those after `after` (nullopt: from the head), skipping `held`,
// looking at no more than `max_scan` candidates, admitting each under the
// queue's limits (`scope`: the pool's id, for per-pool limits; `held` also
// lists the slot locks the session holds; `probes`: jobs held back earlier,
// looked at first; `hand`: the hand-off lock, see qg_lock_jobs()). A key
// with an empty run_at_text passes its run_at.
Call LockJobs(absl::string_view queue, int want, absl::Span<const int64_t> held,
              int max_scan, const std::optional<JobKey>& after,
              const std::optional<JobKey>& rewind = std::nullopt,
              int64_t scope = 0, absl::Span<const JobKey> probes = {},
              absl::Span<const int64_t> probe_buckets = {}, int hand = 0);
// Flow control's hand-off lock alone (qg_limit_hand()): `op` 1 lets go of
// it and takes it again, 4 lets go of it.
Call HandRelease(absl::string_view queue, int op);
Call ConfirmBatch(absl::Span<const JobKey> keys);
Call DeleteBatch(absl::Span<const JobKey> keys);
Call DeleteById(absl::Span<const int64_t> ids);
// The fast path's deletes of completed jobs (with history records).
Call FinishBatch(absl::Span<const JobFinish> finishes);
Call FinishById(absl::Span<const JobFinish> finishes);
// The same for a pool that saw history off for its queues: they check it
// and return -1 alone (writing nothing) when it is on; the history-writing
// statements return -2 beside their ids when it is off.
Call FinishBatchPlain(absl::Span<const JobKey> keys);
Call ErrorBatchPlain(absl::Span<const JobError> errors);
Call ErrorBatch(absl::Span<const JobError> errors);
Call ErrorById(absl::Span<const JobError> errors);
Call UnlockBatch(absl::Span<const int64_t> ids);
Call NextDue(absl::string_view queue);
// The fast path's sweep of `queue`: up to `want` free runnable jobs before
// `before` (nullopt: none looked for), at most `max_scan` candidates; then
// the next due time.
Call Sweep(absl::string_view queue, const std::optional<JobKey>& before,
           int want, int max_scan);
Call SnoozeBatch(absl::Span<const JobSnooze> snoozes);
Call SnoozeById(absl::Span<const JobSnooze> snoozes);
Call CountJobs(absl::Span<const JobCount> counts);
Call SetPaused(absl::string_view queue, bool paused);
Call PausedQueues();
Call QueuePaused(absl::string_view queue);
// Whether a flow-control limit applies to `queue` (fails without qg_limits).
Call QueueLimited(absl::string_view queue);
Call CancelUnheld(int64_t id, absl::string_view message);
Call CancelUnheldHistory(int64_t id, absl::string_view message);
// Job history (qg/internal/sql/history_*.sql).
Call HasHistory();
Call HistoryPrivileges();
Call HistoryGet(int64_t id, int max_chars);
Call HistoryRevive(int64_t id);
Call HistoryPruneCut();
// The bounds as qg_history_prune_cut printed them (unset: none).
Call HistoryPrune(const std::optional<std::string>& before,
                  const std::optional<std::string>& max_at,
                  const std::optional<std::string>& max_id, int batch);
Call HistoryList(const HistoryListParams& params);
Call HistorySettings();
Call HistorySetQueue(absl::string_view queue, std::optional<bool> on);
Call HistorySetDefault(std::optional<bool> all_queues,
                       std::optional<std::optional<absl::Duration>> keep,
                       std::optional<std::optional<int64_t>> max_records);
// A cancel request for job `id`'s current run, expiring after
// `expires_in` (id and holder pid; no row when nobody holds the job).
Call RequestCancel(int64_t id, absl::Duration expires_in);
// (acknowledged, live) of job `id`'s cancel request; no row: none.
Call CancelAcknowledged(int64_t id);
Call WithdrawCancel(int64_t id, bool acknowledged_too);
// The cancel requests no pool has taken yet (job_id).
Call PendingCancels();
Call AckCancels(absl::Span<const int64_t> ids);
Call ListenControl();
Call TrimCounts(absl::Duration keep);
Call HasUniqueKey();
Call InsertUniqueJob(const InsertRow& row);  // row.NeedsAdditions()
Call InsertManyUnique(absl::Span<const InsertRow> rows);
Call HasPeriodicTable();
Call PeriodicClaim(absl::string_view name, absl::string_view schedule,
                   absl::string_view time_zone, absl::Time last_occurrence);
Call PeriodicLock(absl::string_view name);
Call PeriodicRecord(const internal::PeriodicRecord& record);
Call PeriodicHeartbeat(const std::vector<std::string>& names);
Call PeriodicList(absl::Duration registered_within);
Call PeriodicRemove(absl::string_view name);
// The database's clock (clock_timestamp(), as text), which decides the due
// occurrences of periodic schedules.
Call PeriodicNow();
// The web console's views (qg/internal/sql/console_*.sql).
Call ConsoleTables();
Call ConsoleOverview();
Call ConsoleQueues();
Call ConsoleThroughput(int minutes, const std::optional<std::string>& queue,
                       const std::optional<std::string>& type);
}  // namespace queries

// A delay as the statements take it: seconds, or "Infinity" for a dead job.
std::string DelayParam(absl::Duration delay);

}  // namespace qg::internal

#endif  // QG_INTERNAL_QUERIES_H_
