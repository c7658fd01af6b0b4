// qg/testing/gate.h
// -----------------------------------------------------------------------------
//
// `Gate` and `OpenOnExit`: how a test holds job handlers in the middle of a
// run and lets them go, without any test being able to hang on them.
//
// Example:
//   qg_testing::Gate gate;
//   work_map.Register("Blocks", [&](qg::Job&) {
//     gate.Wait();
//     return absl::OkStatus();
//   });
//   qg::WorkerPool pool(client.get(), &work_map, 2, options);
//   qg_testing::OpenOnExit open(gate);  // after the pool: opens first
//   ...                                 // handlers are blocked here
//   gate.Open();
#ifndef QG_TESTING_GATE_H_
#define QG_TESTING_GATE_H_

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "qg/internal/sync.h"

namespace qg_testing {

// Gate
//
// A latch that blocking handlers wait on. Thread-safe. `Wait()` gives up
// after 30 s, so a handler can never block a failing test forever.
class Gate {
 public:
  // Lets every waiter, present and future, through.
  void Open() ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    open_ = true;
    cv_.SignalAll();
  }
  // Blocks until `Open()`, or 30 s at most.
  void Wait() ABSL_LOCKS_EXCLUDED(mu_) {
    qg::internal::MutexLock lock(mu_);
    cv_.WaitUntil(lock, absl::Now() + absl::Seconds(30), [this] {
      mu_.AssertHeld();
      return open_;
    });
  }

 private:
  qg::internal::Mutex mu_;
  qg::internal::CondVar cv_;  // opened
  bool open_ ABSL_GUARDED_BY(mu_) = false;
};

// OpenOnExit
//
// Opens `gate` when it goes out of scope. Declared right after a pool, it
// releases blocked handlers before the pool's destructor waits for them,
// also when an ASSERT ends the test early.
class OpenOnExit {
 public:
  explicit OpenOnExit(Gate& gate) : gate_(gate) {}
  ~OpenOnExit() { gate_.Open(); }

 private:
  Gate& gate_;
};

}  // namespace qg_testing

#endif  // QG_TESTING_GATE_H_
