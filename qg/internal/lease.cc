#include "qg/internal/lease.h"

#include "absl/strings/str_cat.h"

namespace qg::internal {

absl::Status SessionLease::RunRelocked(
    const JobRow& row, const std::function<absl::Status(PGconn*)>& write) {
  if (!locked_ || !conn_ || conn_.pool() == nullptr) {
    return absl::FailedPreconditionError("the lease cannot lock the job again");
  }
  if (PQstatus(conn_.get()) == CONNECTION_OK) {
    return absl::FailedPreconditionError(
        "the job's session is alive: it still holds the job");
  }
  std::shared_ptr<ConnPool> pool = conn_.pool();
  conn_.Discard();  // dead: its lock went with it
  session_lost_ = true;
  absl::StatusOr<PooledConn> fresh = pool->Acquire(absl::Seconds(5));
  if (!fresh.ok()) return fresh.status();
  absl::StatusOr<PgResult> locked =
      Run(fresh->get(), queries::TryLockJob(row.key.id));
  if (!locked.ok()) return locked.status();
  if (locked->Get(0, 0) != "t") {
    return absl::AbortedError(
        absl::StrCat("job ", row.key.id, " is held by another worker now"));
  }
  absl::Status s = write(fresh->get());
  absl::StatusOr<PgResult> unlocked =
      Run(fresh->get(), queries::UnlockJob(row.key.id));
  if (!unlocked.ok()) fresh->Discard();  // the session may hold the lock
  return s;
}

void SessionLease::End(const JobRow& row, Outcome outcome) {
  if (counter_ != nullptr) counter_->Add(row.key.queue, row.type, outcome.end);
  if (session_lost_) return;  // RunRelocked() said what became of it
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
