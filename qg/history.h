// qg/history.h
// -----------------------------------------------------------------------------
//
// Job history: a record of every job a qg-cpp worker finished (completed,
// dead, cancelled) in queues that have history on, written in the statement
// that removes the job from que_jobs (so a record exists if and only if the
// job is gone), with its times, attempts, last error and the output its
// handler set (`Job::SetOutput`). Off by default; `Admin::SetHistory()` or
// `qg history on` turns it on per queue or for all. Records past retention
// (by default 7 days, at most 1,000,000) are pruned in small batches by
// processes whose workers finish jobs, and by `Admin::PruneHistory()`.
//
//   std::unique_ptr<qg::Admin> admin = ...;
//   QG_RETURN_IF_ERROR(admin->SetHistory("mail", true));
//   ...
//   absl::StatusOr<qg::JobLookup> j = client->GetJob(4711);
//   if (j.ok() && j->phase == qg::JobPhase::kFinished) {
//     Show(j->finished->outcome, j->finished->run_time, *j->finished->output);
//   }
//
// Needs `qg migrate`; on a database without it every job is waiting,
// running or unknown.
#ifndef QG_HISTORY_H_
#define QG_HISTORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libpq-fe.h"
#include "qg/job_record.h"

namespace qg {

// JobOutcome
//
// How a finished job ended.
enum class JobOutcome {
  kCompleted,  // its handler succeeded (or `Job::Delete()`)
  kDead,       // it failed and was out of attempts
  kCancelled,  // an operator cancelled it (`Client::CancelJob`)
};

// "completed", "dead", "cancelled", and back (`InvalidArgument` for another
// name).
absl::string_view JobOutcomeName(JobOutcome outcome);
absl::StatusOr<JobOutcome> ParseJobOutcome(absl::string_view name);

// FinishedJob
//
// A job's history record. Text members are cut at the reader's limit
// (`kShownChars` for one job; a listing reads no args and no output, and
// only the first line of the last error), with their stored sizes.
struct FinishedJob {
  int64_t id = 0;
  std::string queue;
  std::string type;  // Ruby Que's job_class
  int16_t priority = 0;
  JobOutcome outcome = JobOutcome::kCompleted;
  // Runs it had: error_count + 1 for a completed job; a job cancelled
  // while it waited counts only the runs before.
  int32_t attempts = 0;
  // When it was enqueued (unset for a job enqueued before `qg migrate`
  // added the column).
  std::optional<absl::Time> enqueued_at;
  // When its first run started (unset: it never ran).
  std::optional<absl::Time> first_started_at;
  // When its last run started, and how long it ran (unset: cancelled
  // while waiting).
  std::optional<absl::Time> started_at;
  std::optional<absl::Duration> run_time;
  // When it finished: its last run's end, or the cancel. The database's
  // clock, as every time here.
  absl::Time finished_at;
  // The args (JSON text; empty in a listing) and their size in bytes.
  std::string args;
  int64_t args_bytes = 0;
  // The error it died of, the cancel's message, or for a completed job the
  // failure before its success; unset if none.
  std::optional<std::string> last_error;
  int64_t last_error_bytes = 0;
  // The output its handler set (JSON text; unset if none; empty in a
  // listing) and its size in bytes.
  std::optional<std::string> output;
  int64_t output_bytes = 0;

  bool args_truncated() const {
    return args_bytes > static_cast<int64_t>(args.size());
  }
  bool output_truncated() const {
    return output.has_value() &&
           output_bytes > static_cast<int64_t>(output->size());
  }
};

// JobPhase
//
// Where a job is in its life.
enum class JobPhase {
  kUnknown,   // no such job (never was, deleted, or its record pruned)
  kWaiting,   // in que_jobs, not held: due, scheduled, or kept dead or
              // cancelled (queues without history keep those)
  kRunning,   // in que_jobs, held by a worker (running, or locked ahead)
  kFinished,  // gone, with a history record
};

// "unknown", "waiting", "running", "finished".
absl::string_view JobPhaseName(JobPhase phase);

// JobLookup
//
// What `Client::GetJob()` and `Admin::LookUpJob()` know of a job.
struct JobLookup {
  JobPhase phase = JobPhase::kUnknown;
  // kWaiting, kRunning: its row now (args and last error cut at
  // `kShownChars`).
  std::optional<JobRecord> job;
  // kFinished: its record.
  std::optional<FinishedJob> finished;
};

// HistoryFilter
//
// Which records a listing selects. Default: every record.
struct HistoryFilter {
  std::optional<std::string> queue;
  std::optional<std::string> type;
  std::optional<JobOutcome> outcome;
  // Finished at or after `finished_from` and before `finished_before`.
  std::optional<absl::Time> finished_from;
  std::optional<absl::Time> finished_before;
};

// HistoryCursor
//
// Where a page of records ends (newest first): the last record's finish
// time as the database printed it, and its id.
struct HistoryCursor {
  std::string finished_at;
  int64_t id = 0;

  // As text for a command line or URL, "ID,FINISHED_AT"; `Decode()` reads
  // it back (`InvalidArgument` if it cannot).
  std::string Encode() const;
  static absl::StatusOr<HistoryCursor> Decode(absl::string_view text);
};

// HistoryPage
struct HistoryPage {
  std::vector<FinishedJob> jobs;
  // Set when the page is full: pass it for the next page.
  std::optional<HistoryCursor> next;
};

// HistorySettings
//
// Whether history is on, and its retention.
struct HistorySettings {
  // The default: on for every queue without a setting of its own.
  bool all_queues = false;
  // Queues with a setting of their own (on or off), by name.
  std::vector<std::pair<std::string, bool>> queues;
  // Records older than this are pruned (unset: no age bound).
  std::optional<absl::Duration> keep = absl::Hours(24 * 7);
  // At most this many records are kept, the newest (unset: no bound).
  std::optional<int64_t> max_records = 1000000;

  // Whether `queue`'s finished jobs get a record.
  bool on(absl::string_view queue) const;
};

namespace internal {

// The implementations behind `Admin` and `Client` (on a connection outside
// a transaction; `max_chars` as `kShownChars`).
absl::StatusOr<JobLookup> LookUpJob(PGconn* conn, int64_t id, int max_chars);
absl::StatusOr<HistoryPage> ListHistory(
    PGconn* conn, const HistoryFilter& filter, int limit,
    const std::optional<HistoryCursor>& after);
absl::StatusOr<HistorySettings> ReadHistorySettings(PGconn* conn);

}  // namespace internal
}  // namespace qg

#endif  // QG_HISTORY_H_
