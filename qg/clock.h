// qg/clock.h
// -----------------------------------------------------------------------------
//
// The clock seam of qg-cpp. Library code that decides by time (when to poll,
// when a scheduled job is due, when a buffered job must be re-checked, when a
// periodic job's next occurrence comes) reads the time through a `qg::Clock`,
// so that tests can drive those decisions with a fake clock
// (`qg_testing::FakeClock`) instead of sleeping. Production code uses
// `RealClock()`, the default everywhere a clock can be given.
//
// A clock only answers "what time is it"; threads that wait still wait in real
// time (a poll() or a condition variable), bounded by deadlines computed from
// the clock.
//
// Example:
//   qg::ClientOptions options;
//   options.clock = &my_clock;   // default: nullptr, meaning qg::RealClock()
#ifndef QG_CLOCK_H_
#define QG_CLOCK_H_

#include "absl/time/time.h"

namespace qg {

// Clock
//
// A source of the current time. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;

  // The current time.
  virtual absl::Time Now() const = 0;
};

// RealClock()
//
// The process's real time (`absl::Now()`). Lives forever.
const Clock& RealClock();

}  // namespace qg

#endif  // QG_CLOCK_H_
