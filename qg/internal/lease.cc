#include "qg/internal/lease.h"

#include "absl/strings/str_cat.h"

namespace qg::internal {

void SessionLease::End(const JobRow& row, Outcome outcome) {
  if (counter_ != nullptr) counter_->Add(row.key.queue, row.type, outcome.end);
  if (locked_ && conn_) {
    absl::StatusOr<PgResult> r =
        RunPrepared(conn_.get(), queries::UnlockJob(row.key.id));
    if (!r.ok()) {
      logger_->Log(LogLevel::kError,
                   absl::StrCat("qg: job ", row.key.id,
                                " lost its lock: its session ended (",
                                r.status().ToString(),
                                "); another worker may run it again"));
      conn_.Discard();
      return;
    }
    if (r->rows() == 1 && r->Get(0, 0) != "t") {
      // The session no longer held the lock: it was reset or its backend
      // terminated and reconnected; another worker may have the job now.
      logger_->Log(LogLevel::kError,
                   absl::StrCat("qg: job ", row.key.id,
                                " was not locked by its session at Done()"));
    }
    if (!limit_locks_.empty()) {
      // After the job's own lock: a slot is never free while its job is
      // still held. A session that cannot say it released them is closed.
      absl::StatusOr<PgResult> u =
          Run(conn_.get(), queries::UnlockBatch(limit_locks_));
      if (!u.ok()) {
        logger_->Log(LogLevel::kError,
                     absl::StrCat("qg: job ", row.key.id,
                                  ": releasing its limits' slots: ",
                                  u.status().ToString(),
                                  "; closing the session to release them"));
        conn_.Discard();
        return;
      }
    }
  }
  conn_.Release();
}

}  // namespace qg::internal
