// qg/job_record.h
// -----------------------------------------------------------------------------
//
// A job of que_jobs as operators see it (`JobRecord`, from `Admin::GetJob`,
// `Admin::ListJobs` and `Client::GetJob`), and the key a listing pages by
// (`JobCursor`).
#ifndef QG_JOB_RECORD_H_
#define QG_JOB_RECORD_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/pg.h"

namespace qg {

// JobCursor
//
// Where a page of jobs ends: the key of its last row, in Que's order (queue,
// priority, run_at, job_id). The next page starts after it.
struct JobCursor {
  std::string queue;
  int16_t priority = 0;
  absl::Time run_at;
  int64_t id = 0;

  // Encode()
  //
  // As text for a command line or URL, "ID,PRIORITY,RUN_AT,QUEUE", e.g.
  // "42,100,2026-11-29T06:00:00.123456Z,mail" (the queue last, so it may
  // hold commas). `Decode()` reads it back (`InvalidArgument` if it cannot).
  std::string Encode() const;
  static absl::StatusOr<JobCursor> Decode(absl::string_view text);
};

// JobRecord
//
// A job as operators see it.
struct JobRecord {
  int64_t id = 0;
  std::string queue;
  std::string type;  // Ruby Que's job_class
  int16_t priority = 0;
  absl::Time run_at;
  int32_t error_count = 0;
  // The last error, and its first line (at most `kShownLineChars`
  // characters); empty when it never failed. `Admin::GetJob()` reads the
  // first `kShownChars` characters of the error; a listing only the first
  // line (in both members).
  std::string last_error;
  std::string last_error_line;
  // The stored last_error's size in bytes (`GetJob()`; 0 in a listing).
  int64_t last_error_bytes = 0;
  // The args (JSON text), only from `GetJob()` (a listing reads none): the
  // first `kShownChars` characters, and the stored size in bytes.
  std::string args;
  int64_t args_bytes = 0;
  // The backend pid of the session of this database holding the job's lock;
  // 0 when nobody holds it.
  int held_by_pid = 0;

  // Whether `GetJob()` cut the args (then `args` is not valid JSON) or the
  // last error for display.
  bool args_truncated() const {
    return args_bytes > static_cast<int64_t>(args.size());
  }
  bool last_error_truncated() const {
    return last_error_bytes > static_cast<int64_t>(last_error.size());
  }

  // Held by a worker of this database right now (running, or locked ahead).
  bool working() const { return held_by_pid != 0; }
  // Dead: out of attempts, or cancelled (run_at 9999-01-01).
  bool dead() const;
  // Cancelled by an operator (`CancelJob()`): dead, its last_error starting
  // with `kCancelledMarker` ("qg: cancelled").
  bool cancelled() const;
  // This row's key, to page after it.
  JobCursor cursor() const;
};

namespace internal {

// Reads row `row` of qg_list_jobs or qg_get_job (by column name).
absl::StatusOr<JobRecord> ReadJobRecord(const PgResult& result, int row);

}  // namespace internal
}  // namespace qg

#endif  // QG_JOB_RECORD_H_
