// qg/worker/guarded_observer.h
// -----------------------------------------------------------------------------
//
// `GuardedObserver` (internal): a `PoolObserver` that forwards to the user's
// and survives it throwing. Pools call observers from their worker and
// locker threads, where an escaping exception would end the process; a
// throwing observer is logged (once a minute at most) and the pool goes on.
#ifndef QG_WORKER_GUARDED_OBSERVER_H_
#define QG_WORKER_GUARDED_OBSERVER_H_

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "qg/internal/guarded.h"
#include "qg/logger.h"
#include "qg/worker/pool_observer.h"

namespace qg::internal {

class GuardedObserver : public PoolObserver {
 public:
  // `inner` (may be null: calls do nothing) and `logger` must outlive it.
  GuardedObserver(PoolObserver* inner, Logger* logger)
      : inner_(inner), logger_(logger) {}

  void OnRoundTrip(const RoundTrip& r) override {
    Call("OnRoundTrip", [&] { inner_->OnRoundTrip(r); });
  }
  void OnSweep(const Sweep& s) override {
    Call("OnSweep", [&] { inner_->OnSweep(s); });
  }
  void OnJobDone(const JobDone& j) override {
    Call("OnJobDone", [&] { inner_->OnJobDone(j); });
  }

 private:
  template <typename Fn>
  void Call(const char* what, Fn&& fn) {
    if (inner_ == nullptr) return;
    try {
      fn();
    } catch (...) {
      absl::Status why =
          CaughtException(absl::StrCat("the pool observer's ", what));
      // At most once a minute: an observer that always throws is not a
      // reason to flood the log.
      int64_t now = absl::ToUnixSeconds(absl::Now());
      int64_t last = last_logged_.load();
      if (now - last >= 60 && last_logged_.compare_exchange_strong(last, now)) {
        logger_->Log(LogLevel::kError,
                     absl::StrCat("qg: ", why.message(), "; ignored"));
      }
    }
  }

  PoolObserver* const inner_;
  Logger* const logger_;
  std::atomic<int64_t> last_logged_{0};
};

}  // namespace qg::internal

#endif  // QG_WORKER_GUARDED_OBSERVER_H_
