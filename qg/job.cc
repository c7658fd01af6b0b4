#include "qg/job.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "qg/internal/pg.h"
#include "qg/internal/sql.h"

namespace qg {

absl::Duration DefaultBackoff(int32_t error_count) {
  double n = error_count;
  return absl::Seconds(n * n * n * n + 3);
}

absl::Status DefaultDelete(Job& job, Executor& exec) {
  return exec
      .Query(internal::sql::kDeleteJob,
             {job.queue(), absl::StrCat(job.priority()), job.run_at_text(),
              absl::StrCat(job.id())})
      .status();
}

absl::Status RecordError(Job& job, Executor& exec, absl::string_view message,
                         absl::Duration delay) {
  return exec
      .Query(internal::sql::kSetError,
             {absl::StrCat(job.error_count() + 1),
              absl::StrCat(absl::ToDoubleSeconds(delay)), std::string(message),
              job.queue(), absl::StrCat(job.priority()), job.run_at_text(),
              absl::StrCat(job.id())})
      .status();
}

absl::Status DefaultError(Job& job, Executor& exec, absl::string_view message) {
  return RecordError(job, exec, message, DefaultBackoff(job.error_count() + 1));
}

Job::~Job() { Done(); }

bool Job::done() const {
  absl::MutexLock lock(&mu_);
  return done_;
}

PGconn* Job::Conn() {
  absl::MutexLock lock(&mu_);
  return done_ ? nullptr : conn_;
}

absl::StatusOr<qg::Tx*> Job::Tx() {
  if (injected_tx_ != nullptr) return injected_tx_;
  if (own_tx_ != nullptr && own_tx_->open()) return own_tx_.get();
  PGconn* conn = Conn();
  if (conn == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id_, " is done: no connection"));
  }
  absl::StatusOr<std::unique_ptr<PgTx>> tx = PgTx::Begin(conn);
  if (!tx.ok()) return tx.status();
  own_tx_ = std::move(*tx);
  return own_tx_.get();
}

Executor& Job::executor() {
  if (injected_tx_ != nullptr) return *injected_tx_;
  if (own_tx_ != nullptr && own_tx_->open()) return *own_tx_;
  conn_exec_ = PgExecutor(Conn());
  return conn_exec_;
}

absl::Status Job::Delete() {
  const DeleteFunc& del = hooks_ && hooks_->delete_func
                              ? hooks_->delete_func
                              : DeleteFunc(DefaultDelete);
  absl::Status s = del(*this, executor());
  if (own_tx_ != nullptr && own_tx_->open()) {
    // The deletion and the handler's writes commit together, or neither.
    if (s.ok()) {
      s = own_tx_->Commit();
    } else {
      own_tx_->Rollback().IgnoreError();
    }
  }
  return s;
}

absl::Status Job::Error(absl::string_view message) {
  if (own_tx_ != nullptr && own_tx_->open()) {
    own_tx_->Rollback().IgnoreError();
  }
  const ErrorFunc& err = hooks_ && hooks_->error_func ? hooks_->error_func
                                                      : ErrorFunc(DefaultError);
  return err(*this, executor(), message);
}

void Job::Done() {
  PGconn* conn;
  {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    done_ = true;
    conn = conn_;
  }
  if (own_tx_ != nullptr && own_tx_->open()) {
    own_tx_->Rollback().IgnoreError();
  }
  own_tx_.reset();
  if (locked_ && conn != nullptr) {
    absl::StatusOr<internal::Result> r =
        internal::Exec(conn, internal::sql::kUnlockJob, {absl::StrCat(id_)});
    Logger& log = hooks_ && hooks_->logger ? *hooks_->logger : DefaultLogger();
    if (!r.ok()) {
      log.Log(
          LogLevel::kError,
          absl::StrCat("qg: unlocking job ", id_, ": ", r.status().ToString(),
                       " (the lock ends with the session)"));
    } else if (r->rows() == 1 && r->Get(0, 0) != "t") {
      // Our session no longer held the lock: it was reconnected or the
      // backend was terminated; another worker may have the job now.
      log.Log(LogLevel::kError,
              absl::StrCat("qg: job ", id_,
                           " was not locked by this session at Done()"));
    }
  }
  absl::MutexLock lock(&mu_);
  conn_ = nullptr;
  pooled_.Release();
}

}  // namespace qg
