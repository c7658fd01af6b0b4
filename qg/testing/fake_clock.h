// qg/testing/fake_clock.h
// -----------------------------------------------------------------------------
//
// `FakeClock`: a `qg::Clock` that moves only when the test moves it, for
// table-driven tests of time-based decisions (the lock planner, timers,
// periodic schedules) without sleeps.
//
// Example:
//   qg_testing::FakeClock clock(absl::FromUnixSeconds(1'000'000));
//   clock.Advance(absl::Seconds(5));
//   EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1'000'005));
#ifndef QG_TESTING_FAKE_CLOCK_H_
#define QG_TESTING_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "qg/clock.h"
#include "qg/internal/sync.h"

namespace qg_testing {

// FakeClock
//
// Thread-safe. Starts at `start` (default: 2026-01-01T00:00:00Z).
class FakeClock : public qg::Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1767225600))
      : now_(start) {}

  absl::Time Now() const override ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    return now_;
  }

  // Sets the time (it may go backwards, as a real clock may be stepped).
  void Set(absl::Time t) ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    now_ = t;
  }

  // Moves the time by `d`.
  void Advance(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    now_ += d;
  }

 private:
  mutable qg::internal::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qg_testing

#endif  // QG_TESTING_FAKE_CLOCK_H_
