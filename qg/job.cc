#include "qg/job.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "qg/internal/guarded.h"
#include "qg/internal/json.h"
#include "qg/internal/queries.h"
#include "qg/internal/utf8.h"
#include "qg/pg.h"

namespace qg {

using internal::MutexLock;
namespace {

// The error count after one more failure, saturating at INT32_MAX.
int32_t NextErrorCount(int32_t count) {
  return count == std::numeric_limits<int32_t>::max() ? count : count + 1;
}

// A finite delay cut to 0..kMaxRetryDelay; infinite (dead) stays.
absl::Duration ClampDelay(absl::Duration delay) {
  if (delay == absl::InfiniteDuration()) return delay;
  return std::clamp(delay, absl::ZeroDuration(), kMaxRetryDelay);
}

internal::JobKey KeyOf(const Job& job) {
  return {job.queue(), job.priority(), job.run_at_text(), job.run_at(),
          job.id()};
}

absl::Status RunOn(Executor& exec, const internal::Call& call) {
  return exec.Query(call.statement->text, call.params).status();
}

}  // namespace

absl::Duration DefaultBackoff(int32_t error_count) {
  double n = error_count;
  double seconds = n * n * n * n + 3;
  return std::min(absl::Seconds(seconds), kMaxRetryDelay);
}

absl::Status DefaultDelete(Job& job, Executor& exec) {
  if (job.hooks_ && job.hooks_->history) {
    internal::JobFinish f;
    f.key = KeyOf(job);
    f.started_ago = job.SecondsSinceStart();
    f.output = job.output();
    return RunOn(exec, internal::queries::FinishJob(f));
  }
  return RunOn(exec, internal::queries::DeleteJob(KeyOf(job)));
}

absl::Status RecordError(Job& job, Executor& exec, absl::string_view message,
                         absl::Duration delay) {
  internal::JobError e{KeyOf(job), NextErrorCount(job.error_count()),
                       ClampDelay(delay), internal::StorableText(message)};
  if (job.hooks_ && job.hooks_->history) {
    e.started_ago = job.SecondsSinceStart();
    e.ended_ago = 0;
    return RunOn(exec, internal::queries::SetErrorHistory(e));
  }
  return RunOn(exec, internal::queries::SetError(e));
}

absl::Status DefaultError(Job& job, Executor& exec, absl::string_view message) {
  return RecordError(job, exec, message,
                     DefaultBackoff(NextErrorCount(job.error_count())));
}

Job::Job(internal::JobRow row, std::unique_ptr<internal::JobLease> lease,
         std::shared_ptr<const JobHooks> hooks)
    : row_(std::move(row)),
      hooks_(std::move(hooks)),
      lease_(std::move(lease)),
      started_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count()) {}

void Job::MarkStarted() {
  started_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
}

double Job::SecondsSinceStart() const {
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  return static_cast<double>(now - started_ns_.load()) / 1e9;
}

absl::Status Job::SetOutput(absl::string_view json) {
  if (absl::Status s = Decided("SetOutput"); !s.ok()) return s;
  if (json.size() > kMaxOutputBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("job ", id(), ": output has ", json.size(),
                     " bytes; at most ", kMaxOutputBytes));
  }
  if (absl::Status s = internal::ValidateJson(json); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job ", id(),
        ": output must be the text of one JSON value: ", s.message()));
  }
  MutexLock lock(mu_);
  output_ = std::string(json);
  return absl::OkStatus();
}

std::optional<std::string> Job::output() const {
  MutexLock lock(mu_);
  return output_;
}

Job::~Job() { Done(); }

bool Job::done() const {
  MutexLock lock(mu_);
  return done_;
}

internal::JobError Job::MakeError(absl::string_view message) const {
  int32_t count = NextErrorCount(row_.error_count);
  absl::Duration delay;
  if (hooks_ && hooks_->max_attempts > 0 && count >= hooks_->max_attempts) {
    delay = absl::InfiniteDuration();  // out of attempts: dead
  } else {
    // One call of the (possibly user-supplied) backoff per failure; one that
    // throws gets the default.
    delay = DefaultBackoff(count);
    if (hooks_ && hooks_->backoff) {
      absl::StatusOr<absl::Duration> custom = internal::Guard(
          "BackoffFunc", [&]() -> absl::StatusOr<absl::Duration> {
            return hooks_->backoff(count);
          });
      if (custom.ok()) {
        delay = *custom;
      } else if (hooks_->logger != nullptr) {
        hooks_->logger->Log(
            LogLevel::kError,
            absl::StrCat("qg: job ", id(), ": ", custom.status().message(),
                         "; retrying after the default backoff"));
      }
    }
    delay = ClampDelay(delay);
  }
  std::string text =
      delay == absl::InfiniteDuration()
          ? absl::StrCat(kDeadMarker, count, " attempts: ", message)
          : std::string(message);
  return {KeyOf(*this), count, delay, internal::StorableText(text)};
}

PGconn* Job::Conn() {
  MutexLock lock(mu_);
  if (done_) return nullptr;
  if (conn_override_ != nullptr) return conn_override_;
  return lease_->Conn();
}

absl::StatusOr<qg::Tx*> Job::Tx() {
  if (borrowed_tx_ != nullptr) return borrowed_tx_;
  if (own_tx_open()) return own_tx_.get();
  PGconn* conn = Conn();
  if (conn == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id(), " has no connection (done already?)"));
  }
  absl::StatusOr<std::unique_ptr<PgTx>> tx = PgTx::Begin(conn);
  if (!tx.ok()) return tx.status();
  own_tx_ = std::move(*tx);
  return own_tx_.get();
}

Executor& Job::executor() {
  if (borrowed_tx_ != nullptr) return *borrowed_tx_;
  if (own_tx_open()) return *own_tx_;
  conn_exec_ = PgExecutor(Conn());
  return conn_exec_;
}

JobEnd Job::end() const { return end_.load(); }

absl::Status Job::Decided(absl::string_view verb) const {
  JobEnd end = end_.load();
  if (end == JobEnd::kNone && !done()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "job ", id(), " already ended as ",
      JobEndName(end == JobEnd::kNone ? JobEnd::kReleased : end), ": ", verb,
      "() changes nothing (the first verb that succeeds is the outcome)"));
}

absl::Status Job::Delete() {
  if (absl::Status s = Decided("Delete"); !s.ok()) return s;
  bool custom = hooks_ && hooks_->delete_func;
  if (!custom && borrowed_tx_ == nullptr && !own_tx_open() &&
      lease_->BatchesWrites()) {
    outcome_.kind = internal::Outcome::Kind::kDelete;
    NoteRunEnd();
    outcome_.output = output();
    end_ = JobEnd::kCompleted;
    return absl::OkStatus();
  }
  // The deletion and the handler's writes commit together, or neither.
  return FinishWrite(
      custom ? internal::Guard(
                   "DeleteFunc",
                   [&] { return hooks_->delete_func(*this, executor()); })
             : DefaultDelete(*this, executor()),
      JobEnd::kCompleted);
}

absl::Status Job::Snooze(absl::Duration delay) {
  if (absl::Status s = Decided("Snooze"); !s.ok()) return s;
  if (delay < absl::ZeroDuration() || delay == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "snooze delay must be a finite duration of 0 or more, not ",
        absl::FormatDuration(delay)));
  }
  internal::JobSnooze snooze{KeyOf(*this), std::min(delay, kMaxRetryDelay)};
  if (borrowed_tx_ == nullptr && !own_tx_open() && lease_->BatchesWrites()) {
    outcome_.kind = internal::Outcome::Kind::kSnooze;
    outcome_.snooze = snooze.delay;
    end_ = JobEnd::kSnoozed;
    return absl::OkStatus();
  }
  // The new run_at and the handler's writes commit together.
  return FinishWrite(RunOn(executor(), internal::queries::SnoozeJob(snooze)),
                     JobEnd::kSnoozed);
}

absl::Status Job::FinishWrite(absl::Status written, JobEnd end) {
  absl::Status s = std::move(written);
  if (own_tx_open()) {
    if (s.ok()) {
      s = own_tx_->Commit();
    } else {
      own_tx_->Rollback().IgnoreError();
    }
  }
  if (s.ok()) {
    outcome_.kind = internal::Outcome::Kind::kRelease;
    end_ = end;
  }
  return s;
}

absl::Status Job::RecordCancelled(absl::string_view why) {
  if (absl::Status s = Decided("RecordCancelled"); !s.ok()) return s;
  if (own_tx_open()) own_tx_->Rollback().IgnoreError();
  // The error the job failed of before stays below the cancel line, as
  // qg_cancel_unheld keeps it for a job nobody holds.
  std::string text = absl::StrCat(kCancelledMarker, ": ", why);
  if (row_.last_error.has_value() && !row_.last_error->empty()) {
    absl::StrAppend(&text, "\nlast error before the cancel:\n",
                    *row_.last_error);
  }
  internal::JobError e{KeyOf(*this), error_count(), absl::InfiniteDuration(),
                       internal::StorableText(text)};
  if (borrowed_tx_ == nullptr && lease_->BatchesWrites()) {
    outcome_.kind = internal::Outcome::Kind::kError;
    outcome_.error = std::move(e);
    NoteRunEnd();
    end_ = JobEnd::kCancelled;
    return absl::OkStatus();
  }
  absl::Status s = RunOn(executor(), ErrorCall(std::move(e)));
  if (s.ok()) end_ = JobEnd::kCancelled;
  return s;
}

void Job::NoteRunEnd() {
  outcome_.run_started = std::chrono::steady_clock::time_point(
      std::chrono::nanoseconds(started_ns_.load()));
  outcome_.run_ended = std::chrono::steady_clock::now();
}

internal::Call Job::ErrorCall(internal::JobError e) const {
  if (hooks_ && hooks_->history) {
    e.started_ago = SecondsSinceStart();
    e.ended_ago = 0;
    return internal::queries::SetErrorHistory(e);
  }
  return internal::queries::SetError(e);
}

absl::Status Job::Error(absl::string_view message) {
  if (absl::Status s = Decided("Error"); !s.ok()) return s;
  if (own_tx_open()) own_tx_->Rollback().IgnoreError();
  if (hooks_ && hooks_->error_func) {
    absl::Status s = internal::Guard("ErrorFunc", [&] {
      return hooks_->error_func(*this, executor(), message);
    });
    if (s.ok()) end_ = JobEnd::kRetried;
    return s;
  }
  internal::JobError e = MakeError(message);
  JobEnd end =
      e.delay == absl::InfiniteDuration() ? JobEnd::kDead : JobEnd::kRetried;
  if (borrowed_tx_ == nullptr && lease_->BatchesWrites()) {
    outcome_.kind = internal::Outcome::Kind::kError;
    outcome_.error = std::move(e);
    NoteRunEnd();
    end_ = end;
    return absl::OkStatus();
  }
  internal::JobError again = e;
  absl::Status s = RunOn(executor(), ErrorCall(std::move(e)));
  if (absl::IsUnavailable(s) && borrowed_tx_ == nullptr) {
    // The job's session died under it (a terminated backend, a DBA's
    // idle_in_transaction_session_timeout ending the handler's Tx()): record
    // the failure from a fresh session that locks the job again, so that
    // the retry counts, unless another worker holds the job by now.
    absl::Status relocked = lease_->RunRelocked(row_, [&](PGconn* conn) {
      PgExecutor exec(conn);
      return RunOn(exec, ErrorCall(std::move(again)));
    });
    if (relocked.ok()) {
      s = relocked;
    } else {
      s = absl::Status(s.code(), absl::StrCat(s.message(),
                                              "; recording it on "
                                              "a fresh session: ",
                                              relocked.message()));
    }
  }
  if (s.ok()) end_ = end;
  return s;
}

void Job::Done() {
  {
    MutexLock lock(mu_);
    if (done_) return;
    done_ = true;
  }
  if (own_tx_open()) own_tx_->Rollback().IgnoreError();
  own_tx_.reset();
  conn_exec_ = PgExecutor(nullptr);
  JobEnd expected = JobEnd::kNone;
  end_.compare_exchange_strong(expected, JobEnd::kReleased);
  outcome_.end = end_.load();
  lease_->End(row_, std::move(outcome_));
}

}  // namespace qg
