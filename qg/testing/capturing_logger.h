// qg/testing/capturing_logger.h
// -----------------------------------------------------------------------------
//
// `CapturingLogger`: a `qg::Logger` that keeps what qg logs, so that a test
// can assert on it (and show it when the test fails). Give it to a client
// through `ClientOptions::logger`; `DatabaseTest` (qg/testing/database_test.h)
// does so for its clients.
//
// Example:
//   qg_testing::CapturingLogger logger;
//   options.logger = &logger;
//   ...
//   EXPECT_THAT(logger.text(), HasSubstr("cannot connect"));
//   EXPECT_LE(logger.count(), 20);
#ifndef QG_TESTING_CAPTURING_LOGGER_H_
#define QG_TESTING_CAPTURING_LOGGER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "qg/internal/sync.h"
#include "qg/logger.h"

namespace qg_testing {

// CapturingLogger
//
// Thread-safe. Counts every line at every level and keeps the messages, at
// every level, until they add up to `kKeepBytes` (far more than a passing
// test logs; a test that spins logging cannot exhaust memory).
class CapturingLogger : public qg::Logger {
 public:
  // How many bytes of messages are kept at most.
  static constexpr size_t kKeepBytes = 16 << 20;

  void Log(qg::LogLevel /*level*/, absl::string_view message) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    ++count_;
    if (kept_bytes_ + message.size() > kKeepBytes) return;
    kept_bytes_ += message.size();
    messages_.emplace_back(message);
  }

  // How many lines were logged, at any level (kept or not).
  int count() const ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    return count_;
  }

  // The kept messages, oldest first.
  std::vector<std::string> messages() const ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    return messages_;
  }

  // The kept messages, each followed by a newline.
  std::string text() const ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    std::string out;
    for (const std::string& m : messages_) out += m + "\n";
    return out;
  }

 private:
  mutable qg::internal::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  size_t kept_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> messages_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qg_testing

#endif  // QG_TESTING_CAPTURING_LOGGER_H_
