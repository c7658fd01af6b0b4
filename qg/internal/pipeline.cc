#include "qg/internal/pipeline.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace qg::internal {
namespace {

// Milliseconds until `deadline` for poll(), -1 for none.
int PollMillis(absl::Time deadline, const Clock& clock) {
  if (deadline == absl::InfiniteFuture()) return -1;
  double ms = absl::ToDoubleMilliseconds(deadline - clock.Now());
  return static_cast<int>(std::clamp(std::ceil(ms), 0.0, 2.0e9));
}

}  // namespace

bool IsServerEnding(const PGresult* result) {
  if (result == nullptr) return false;
  const char* severity =
      PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity == nullptr) return false;
  const absl::string_view level = severity;
  return level == "FATAL" || level == "PANIC";
}

absl::StatusOr<Pipeline> Pipeline::Begin(PGconn* conn, const Clock& clock,
                                         ReadWatch* watch) {
  if (PQenterPipelineMode(conn) != 1) {
    return absl::UnavailableError(
        absl::StrCat("entering pipeline mode: ", PQerrorMessage(conn)));
  }
  return Pipeline(conn, &clock, watch);
}

Pipeline::Pipeline(Pipeline&& other) noexcept
    : conn_(other.conn_),
      clock_(other.clock_),
      watch_(other.watch_),
      sent_(std::move(other.sent_)),
      poisoned_(other.poisoned_),
      finished_(other.finished_) {
  other.finished_ = true;  // the moved-from object owns nothing
}

Pipeline::~Pipeline() { Finish(); }

absl::Status Pipeline::Poison(absl::Status status) {
  poisoned_ = true;
  return status;
}

bool Pipeline::ConsumeInput() {
  if (watch_ != nullptr) watch_->Reading();
  return PQconsumeInput(conn_) == 1;
}

void Pipeline::Saw(const PGresult* result) {
  if (watch_ != nullptr && IsServerEnding(result)) watch_->ending.store(true);
}

absl::Status Pipeline::Send(const Call& call) {
  if (poisoned_) return absl::UnavailableError("pipeline is broken");
  std::vector<const char*> values;
  values.reserve(call.params.size());
  for (const SqlParam& p : call.params) {
    values.push_back(p.has_value() ? p->c_str() : nullptr);
  }
  if (PQsendQueryPrepared(conn_, call.statement->name,
                          static_cast<int>(values.size()), values.data(),
                          nullptr, nullptr, 0) != 1 ||
      PQpipelineSync(conn_) != 1) {
    return Poison(absl::UnavailableError(absl::StrCat(
        "sending ", call.statement->name, ": ", PQerrorMessage(conn_))));
  }
  sent_.push_back(call.statement->name);
  return absl::OkStatus();
}

absl::Status Pipeline::Flush(absl::Time deadline) {
  if (poisoned_) return absl::UnavailableError("pipeline is broken");
  while (true) {
    int r = PQflush(conn_);
    if (r == 0) return absl::OkStatus();
    if (r < 0) {
      return Poison(absl::UnavailableError(
          absl::StrCat("sending to PostgreSQL: ", PQerrorMessage(conn_))));
    }
    struct pollfd fd = {PQsocket(conn_), POLLOUT | POLLIN, 0};
    int n = poll(&fd, 1, PollMillis(deadline, *clock_));
    if (n < 0 && errno != EINTR) {
      return Poison(absl::UnavailableError("poll failed while sending"));
    }
    if (n == 0 && clock_->Now() >= deadline) {
      return Poison(absl::DeadlineExceededError(
          "PostgreSQL did not take the statements in time"));
    }
    if (fd.revents & POLLIN) ConsumeInput();
  }
}

absl::Status Pipeline::AwaitResult(absl::Time deadline) {
  while (PQisBusy(conn_)) {
    // Busy: every complete message read so far is parsed.
    if (watch_ != nullptr) watch_->Parsed();
    struct pollfd fd = {PQsocket(conn_), POLLIN, 0};
    int n = poll(&fd, 1, PollMillis(deadline, *clock_));
    if (n < 0 && errno != EINTR) {
      return Poison(absl::UnavailableError("poll failed while reading"));
    }
    if (n == 0 && clock_->Now() >= deadline) {
      return Poison(absl::DeadlineExceededError(
          "no answer from PostgreSQL in time (connection stalled?)"));
    }
    if (n > 0 && !ConsumeInput()) {
      return Poison(absl::UnavailableError(
          absl::StrCat("connection lost: ", PQerrorMessage(conn_))));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PgResult> Pipeline::Next(absl::Time deadline) {
  if (poisoned_) return absl::UnavailableError("pipeline is broken");
  if (sent_.empty()) return absl::InternalError("no result pending");
  if (absl::Status s = AwaitResult(deadline); !s.ok()) return s;
  PgResult result(PQgetResult(conn_));
  Saw(result.get());
  absl::Status status = StatusFromResult(conn_, result.get(), sent_.front());
  // The rest of this call's results (up to NULL), then its sync point.
  while (true) {
    if (absl::Status s = AwaitResult(deadline); !s.ok()) return s;
    PGresult* extra = PQgetResult(conn_);
    if (extra == nullptr) break;
    Saw(extra);
    PQclear(extra);
  }
  if (absl::Status s = AwaitResult(deadline); !s.ok()) return s;
  PgResult sync(PQgetResult(conn_));
  Saw(sync.get());
  sent_.pop_front();
  // The last result: nothing read is left unparsed.
  if (sent_.empty() && watch_ != nullptr) watch_->Parsed();
  if (sync.get() == nullptr ||
      PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
    return Poison(PQstatus(conn_) != CONNECTION_OK
                      ? absl::UnavailableError(absl::StrCat(
                            "connection lost: ", PQerrorMessage(conn_)))
                      : absl::InternalError("pipeline out of step"));
  }
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Poison(absl::UnavailableError(
        absl::StrCat("connection lost: ", PQerrorMessage(conn_))));
  }
  if (!status.ok()) return status;
  return result;
}

bool Pipeline::Finish() {
  if (finished_) return !poisoned_;
  finished_ = true;
  if (!sent_.empty()) poisoned_ = true;
  if (!poisoned_ && PQstatus(conn_) == CONNECTION_OK &&
      PQexitPipelineMode(conn_) == 1) {
    if (watch_ != nullptr) watch_->Parsed();
    return true;
  }
  // Poisoned: what was read may stay unparsed, and the watch says so until
  // the owner closes the connection.
  poisoned_ = true;
  return false;
}

}  // namespace qg::internal
