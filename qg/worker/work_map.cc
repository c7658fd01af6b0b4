#include "qg/worker/work_map.h"

#include <exception>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "qg/worker/watchdog.h"

namespace qg {

absl::Status ParseTypedArgs(absl::string_view args,
                            google::protobuf::Message& message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(args.data(), args.size()), &message,
      options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("args do not parse as ", message.GetTypeName(), ": ",
                     std::string(status.message())));
  }
  return absl::OkStatus();
}

absl::Status WorkMap::Run(Job& job) const {
  const WorkFunc* fn = Find(job.type());
  if (fn == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("unknown job type: \"", job.type(), "\""));
  }
  try {
    return (*fn)(job);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("handler threw: ", e.what()));
  } catch (...) {
    return absl::InternalError(
        "handler threw an exception not derived from std::exception");
  }
}

absl::Status PerformJob(Job& job, const WorkMap& work_map, Logger& logger,
                        internal::Watchdog* watchdog) {
  logger.Log(LogLevel::kDebug,
             absl::StrCat("qg: working job ", job.id(), " (", job.type(), ")"));
  absl::Duration timeout = work_map.Timeout(job.type());
  if (watchdog != nullptr) {
    watchdog->Watch(&job, timeout == absl::InfiniteDuration()
                              ? absl::InfiniteFuture()
                              : absl::Now() + timeout);
  }
  absl::Status result = work_map.Run(job);
  if (watchdog != nullptr) watchdog->Unwatch(&job);
  switch (job.cancel_reason()) {
    case Job::CancelReason::kTimedOut:
      result = absl::DeadlineExceededError(absl::StrCat(
          "job timed out after ", absl::FormatDuration(timeout),
          result.ok()
              ? ""
              : absl::StrCat(" (handler returned: ", result.message(), ")")));
      break;
    case Job::CancelReason::kShutdown:
      if (!result.ok()) {
        logger.Log(LogLevel::kInfo,
                   absl::StrCat("qg: job ", job.id(),
                                " stopped by shutdown; released for another "
                                "worker"));
        job.Done();
        return result;
      }
      break;
    case Job::CancelReason::kNone:
      break;
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

std::function<absl::Status(Job&)> Synchronously(const WorkMap* work_map,
                                                Logger* logger) {
  Logger* log = logger != nullptr ? logger : &DefaultLogger();
  return [work_map, log](Job& job) { return PerformJob(job, *work_map, *log); };
}

}  // namespace qg
