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

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace qg_testing {

// Gate
//
// A latch that blocking handlers wait on. Thread-safe. `Wait()` gives up
// after 30 s, so a handler can never block a failing test forever.
class Gate {
 public:
  // Lets every waiter, present and future, through.
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Blocks until `Open()`, or 30 s at most.
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
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
