// qg/internal/guarded.h
// -----------------------------------------------------------------------------
//
// Calls into user code that must never take a qg thread down: an exception
// thrown by a handler, a hook (`DeleteFunc`, `ErrorFunc`, `BackoffFunc`), a
// synchronous runner, a logger or an observer becomes a status or a log line,
// and the job and its lock are finished as for any other error.
//
// Example:
//   absl::Status s = internal::Guard("DeleteFunc", [&] {
//     return hooks->delete_func(job, exec);
//   });  // Internal("DeleteFunc threw: ...") if it threw
#ifndef QG_INTERNAL_GUARDED_H_
#define QG_INTERNAL_GUARDED_H_

#include <exception>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "qg/logger.h"

namespace qg::internal {

// The status for the exception being handled (call inside a `catch`):
// `Internal` with "<what> threw: <what()>", or, for an exception not derived
// from std::exception, "<what> threw an exception not derived from
// std::exception".
absl::Status CaughtException(absl::string_view what);

// Guard()
//
// Returns `fn()` (an absl::Status or StatusOr), or `CaughtException(what)`
// if it throws.
template <typename Fn>
auto Guard(absl::string_view what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (...) {
    return CaughtException(what);
  }
}

// GuardedLogger
//
// Forwards to `inner`; when `inner` throws, the message (and that it threw)
// goes to `DefaultLogger()` instead. `inner` must outlive it.
class GuardedLogger : public Logger {
 public:
  explicit GuardedLogger(Logger* inner) : inner_(inner) {}
  void Log(LogLevel level, absl::string_view message) override;

 private:
  Logger* const inner_;
};

}  // namespace qg::internal

#endif  // QG_INTERNAL_GUARDED_H_
