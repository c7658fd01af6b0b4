#include "qg/job.h"

#include <cmath>

#include "absl/strings/numbers.h"
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
              delay == absl::InfiniteDuration()
                  ? std::string("Infinity")
                  : absl::StrCat(absl::ToDoubleSeconds(delay)),
              std::string(message), job.queue(), absl::StrCat(job.priority()),
              job.run_at_text(), absl::StrCat(job.id())})
      .status();
}

absl::Status DefaultError(Job& job, Executor& exec, absl::string_view message) {
  return RecordError(job, exec, message, DefaultBackoff(job.error_count() + 1));
}

Job::~Job() { Done(); }

bool Job::done() const {
  std::unique_lock<std::mutex> lock(mu_);
  return done_;
}

absl::Status Job::LoadRow(
    const std::function<std::optional<std::string>(int)>& get) {
  int32_t prio = 0;
  queue_ = get(0).value_or("");
  run_at_text_ = get(2).value_or("");
  type_ = get(4).value_or("");
  args_ = get(5).value_or("[]");
  last_error_ = get(7);
  if (!absl::SimpleAtoi(get(1).value_or(""), &prio) ||
      !absl::SimpleAtoi(get(3).value_or(""), &id_) ||
      !absl::SimpleAtoi(get(6).value_or(""), &error_count_)) {
    return absl::InternalError("unexpected que_jobs row");
  }
  priority_ = static_cast<int16_t>(prio);
  absl::StatusOr<absl::Time> t = internal::ParseTimestamp(run_at_text_);
  if (!t.ok()) return t.status();
  run_at_ = *t;
  return absl::OkStatus();
}

absl::Duration Job::Backoff() const {
  if (hooks_ && hooks_->max_attempts > 0 &&
      error_count_ + 1 >= hooks_->max_attempts) {
    return absl::InfiniteDuration();  // out of attempts: dead
  }
  return hooks_ && hooks_->backoff ? hooks_->backoff(error_count_ + 1)
                                   : DefaultBackoff(error_count_ + 1);
}

std::string Job::ErrorMessage(absl::string_view message,
                              absl::Duration delay) const {
  if (delay != absl::InfiniteDuration()) return std::string(message);
  return absl::StrCat(kDeadMarker, error_count_ + 1, " attempts: ", message);
}

PGconn* Job::Conn() {
  std::unique_lock<std::mutex> lock(mu_);
  if (done_) return nullptr;
  if (conn_ == nullptr && conn_source_ != nullptr) {
    absl::StatusOr<internal::PooledConn> c =
        conn_source_->Acquire(acquire_timeout_);
    if (!c.ok()) {
      Logger& log =
          hooks_ && hooks_->logger ? *hooks_->logger : DefaultLogger();
      log.Log(LogLevel::kError,
              absl::StrCat("qg: job ", id_, ": ", c.status().ToString()));
      return nullptr;
    }
    pooled_ = std::move(*c);
    conn_ = pooled_.get();
  }
  return conn_;
}

absl::StatusOr<qg::Tx*> Job::Tx() {
  if (injected_tx_ != nullptr) return injected_tx_;
  if (own_tx_open()) return own_tx_.get();
  PGconn* conn = Conn();
  if (conn == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id_, " has no connection (done already?)"));
  }
  absl::StatusOr<std::unique_ptr<PgTx>> tx = PgTx::Begin(conn);
  if (!tx.ok()) return tx.status();
  own_tx_ = std::move(*tx);
  return own_tx_.get();
}

Executor& Job::executor() {
  if (injected_tx_ != nullptr) return *injected_tx_;
  if (own_tx_open()) return *own_tx_;
  conn_exec_ = PgExecutor(Conn());
  return conn_exec_;
}

absl::Status Job::Delete() {
  bool custom = hooks_ && hooks_->delete_func;
  if (sink_ != nullptr && !custom && injected_tx_ == nullptr &&
      !own_tx_open()) {
    // Batched: the pool's locker deletes and unlocks after Done().
    completion_.kind = internal::Completion::Kind::kDelete;
    return absl::OkStatus();
  }
  const DeleteFunc& del =
      custom ? hooks_->delete_func : DeleteFunc(DefaultDelete);
  absl::Status s = del(*this, executor());
  if (own_tx_open()) {
    // The deletion and the handler's writes commit together, or neither.
    if (s.ok()) {
      s = own_tx_->Commit();
    } else {
      own_tx_->Rollback().IgnoreError();
    }
  }
  if (s.ok()) completion_.kind = internal::Completion::Kind::kUnlockOnly;
  return s;
}

absl::Status Job::Error(absl::string_view message) {
  if (own_tx_open()) own_tx_->Rollback().IgnoreError();
  if (hooks_ && hooks_->error_func) {
    return hooks_->error_func(*this, executor(), message);
  }
  // One call of the (possibly user-supplied) backoff per failure.
  absl::Duration delay = Backoff();
  if (sink_ != nullptr && injected_tx_ == nullptr) {
    completion_.kind = internal::Completion::Kind::kError;
    completion_.new_error_count = error_count_ + 1;
    completion_.delay = delay;
    completion_.message = ErrorMessage(message, delay);
    return absl::OkStatus();
  }
  return RecordError(*this, executor(), ErrorMessage(message, delay), delay);
}

void Job::Done() {
  PGconn* conn;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    conn = conn_;
  }
  if (own_tx_open()) own_tx_->Rollback().IgnoreError();
  own_tx_.reset();
  if (locked_ && conn != nullptr) {
    absl::StatusOr<internal::Result> r =
        internal::Exec(conn, internal::sql::kUnlockJob, {absl::StrCat(id_)});
    Logger& log = hooks_ && hooks_->logger ? *hooks_->logger : DefaultLogger();
    if (!r.ok()) {
      log.Log(LogLevel::kError,
              absl::StrCat(
                  "qg: job ", id_, " lost its lock: its session ended (",
                  r.status().ToString(), "); another worker may run it again"));
    } else if (r->rows() == 1 && r->Get(0, 0) != "t") {
      // Our session no longer held the lock: it was reconnected or the
      // backend was terminated; another worker may have the job now.
      log.Log(LogLevel::kError,
              absl::StrCat("qg: job ", id_,
                           " was not locked by this session at Done()"));
    }
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    conn_ = nullptr;
    pooled_.Release();
  }
  if (sink_ != nullptr) {
    completion_.queue = queue_;
    completion_.priority = priority_;
    completion_.run_at_text = run_at_text_;
    completion_.id = id_;
    sink_->Finish(std::move(completion_));
  }
}

}  // namespace qg
