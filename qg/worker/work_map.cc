#include "qg/worker/work_map.h"

#include <exception>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "qg/internal/guarded.h"
#include "qg/typed.h"
#include "qg/worker/watchdog.h"

namespace qg {

namespace {
constexpr char kSnoozePayload[] = "qg.snooze";
}  // namespace

absl::Status Snooze(absl::Duration delay) {
  if (delay < absl::ZeroDuration() || delay == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "qg::Snooze: the delay must be a finite duration of 0 or more, not ",
        absl::FormatDuration(delay)));
  }
  absl::Status s = absl::UnavailableError(
      absl::StrCat("snoozed for ", absl::FormatDuration(delay)));
  s.SetPayload(kSnoozePayload,
               absl::Cord(absl::StrCat(absl::ToInt64Nanoseconds(delay))));
  return s;
}

std::optional<absl::Duration> SnoozeDelay(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kSnoozePayload);
  int64_t ns = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &ns)) {
    return std::nullopt;
  }
  return absl::Nanoseconds(ns);
}

absl::Status ParseTypedArgs(absl::string_view args,
                            google::protobuf::Message& message) {
  return ArgsToMessage(args, message);
}

absl::Status WorkMap::Run(Job& job) const {
  const WorkFunc* fn = Find(job.type());
  if (fn == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("unknown job type: \"", job.type(), "\""));
  }
  return internal::Guard("handler", [&] { return (*fn)(job); });
}

namespace {

// A handler that chose its job's outcome itself (`job.Snooze()`,
// `job.Error()`, ...): it stands, whatever the handler returned afterwards.
absl::Status KeepChosenOutcome(Job& job, absl::Status result, Logger& logger) {
  if (!result.ok()) {
    logger.Log(LogLevel::kWarning,
               absl::StrCat("qg: job ", job.id(), " (", job.type(),
                            ") returned an error after its handler ended it "
                            "as ",
                            JobEndName(job.end()),
                            "; keeping that: ", result.ToString()));
  }
  job.Done();
  return result;
}

// What a stop the worker asked for makes of the handler's `result`: a
// timeout fails the job whatever the handler returned; a job stopped by
// shutdown or an operator that failed is released or kept as cancelled
// here, and `*done` is set. Otherwise `result` stands.
absl::Status ApplyCancel(Job& job, absl::Status result, absl::Duration timeout,
                         Logger& logger, bool* done) {
  *done = false;
  switch (job.cancel_reason()) {
    case Job::CancelReason::kTimedOut:
      return absl::DeadlineExceededError(absl::StrCat(
          "job timed out after ", absl::FormatDuration(timeout),
          result.ok()
              ? ""
              : absl::StrCat(" (handler returned: ", result.message(), ")")));
    case Job::CancelReason::kShutdown:
      if (result.ok()) return result;
      logger.Log(LogLevel::kInfo,
                 absl::StrCat("qg: job ", job.id(),
                              " stopped by shutdown; released for another "
                              "worker"));
      break;
    case Job::CancelReason::kCancelled:
      if (result.ok()) return result;  // it finished anyway: completed
      // An operator cancelled it and the handler stopped: keep it as
      // cancelled, never to be retried (qg retry revives it).
      logger.Log(LogLevel::kInfo,
                 absl::StrCat("qg: job ", job.id(), " (", job.type(),
                              ") cancelled by an operator"));
      if (absl::Status s = job.RecordCancelled(absl::StrCat(
              "by an operator; the handler returned: ", result.message()));
          !s.ok()) {
        logger.Log(LogLevel::kError,
                   absl::StrCat("qg: recording the cancellation of job ",
                                job.id(), ": ", s.ToString()));
      }
      break;
    case Job::CancelReason::kNone:
      return result;
  }
  job.Done();
  *done = true;
  return result;
}

// The worker's default ending for the handler's `result`: a snooze, a
// delete on success, a recorded error (retried after the backoff) on
// failure; then `Done()`.
absl::Status EndAsReturned(Job& job, absl::Status result, Logger& logger) {
  if (std::optional<absl::Duration> delay = SnoozeDelay(result)) {
    logger.Log(LogLevel::kDebug,
               absl::StrCat("qg: job ", job.id(), " snoozed for ",
                            absl::FormatDuration(*delay)));
    if (absl::Status s = job.Snooze(*delay); !s.ok()) {
      logger.Log(LogLevel::kError, absl::StrCat("qg: snoozing job ", job.id(),
                                                ": ", s.ToString()));
    }
    job.Done();
    return absl::OkStatus();
  }
  if (result.ok()) {
    if (absl::Status s = job.Delete(); !s.ok()) {
      logger.Log(LogLevel::kError, absl::StrCat("qg: deleting finished job ",
                                                job.id(), ": ", s.ToString()));
      result = s;
    }
  } else {
    std::string message(result.message());
    if (message.empty()) message = result.ToString();
    logger.Log(LogLevel::kWarning,
               absl::StrCat("qg: job ", job.id(), " (", job.type(),
                            ") failed: ", message));
    if (absl::Status s = job.Error(message); !s.ok()) {
      logger.Log(LogLevel::kError,
                 absl::StrCat("qg: recording the error of job ", job.id(), ": ",
                              s.ToString()));
    }
  }
  job.Done();
  return result;
}

}  // namespace

absl::Status PerformJob(Job& job, const WorkMap& work_map, Logger& logger,
                        internal::Watchdog* watchdog) {
  logger.Log(LogLevel::kDebug,
             absl::StrCat("qg: working job ", job.id(), " (", job.type(), ")"));
  job.MarkStarted();
  absl::Duration timeout = work_map.Timeout(job.type());
  if (watchdog != nullptr) {
    watchdog->Watch(&job, timeout == absl::InfiniteDuration()
                              ? absl::InfiniteFuture()
                              : absl::Now() + timeout);
  }
  absl::Status result = work_map.Run(job);
  if (watchdog != nullptr) watchdog->Unwatch(&job);
  if (job.end() != JobEnd::kNone || job.done()) {
    return KeepChosenOutcome(job, std::move(result), logger);
  }
  bool done = false;
  result = ApplyCancel(job, std::move(result), timeout, logger, &done);
  if (done) return result;
  return EndAsReturned(job, std::move(result), logger);
}

std::function<absl::Status(Job&)> Synchronously(const WorkMap* work_map,
                                                Logger* logger) {
  Logger* log = logger != nullptr ? logger : &DefaultLogger();
  return [work_map, log](Job& job) { return PerformJob(job, *work_map, *log); };
}

}  // namespace qg
