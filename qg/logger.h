// qg/logger.h
// -----------------------------------------------------------------------------
//
// The logger interface of qg-cpp (Go qg's pluggable logger): the client and
// the workers report through a `qg::Logger`, glog by default. Implement it to
// route qg's messages into your service's logging.
//
// Example:
//   class MyLogger : public qg::Logger {
//     void Log(qg::LogLevel level, absl::string_view message) override {
//       my_log(level == qg::LogLevel::kError, message);
//     }
//   };
//   MyLogger logger;
//   qg::ClientOptions options;
//   options.logger = &logger;
#ifndef QG_LOGGER_H_
#define QG_LOGGER_H_

#include "absl/strings/string_view.h"

namespace qg {

enum class LogLevel {
  kDebug,    // per job: locked, done (glog: VLOG(1))
  kInfo,     // lifecycle: worker started, stopped
  kWarning,  // a job failed and will be retried
  kError,    // something qg survived but the operator should see
};

// Logger
//
// Receives qg's log messages. Must be thread-safe: workers log from their own
// threads. Messages never contain passwords.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void Log(LogLevel level, absl::string_view message) = 0;
};

// The default logger: glog (`VLOG(1)`, `LOG(INFO)`, `LOG(WARNING)`,
// `LOG(ERROR)`). Lives forever.
Logger& DefaultLogger();

}  // namespace qg

#endif  // QG_LOGGER_H_
