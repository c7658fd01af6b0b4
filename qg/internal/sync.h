// qg/internal/sync.h
// -----------------------------------------------------------------------------
//
// qg-cpp synchronizes with std::mutex and std::condition_variable, not
// absl::Mutex: the abseil library on these machines is not built with
// ThreadSanitizer's annotations, so `--config=tsan` could not see the
// happens-before edges of an absl::Mutex. This is the one helper on top.
#ifndef QG_INTERNAL_SYNC_H_
#define QG_INTERNAL_SYNC_H_

#include <condition_variable>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace qg::internal {

// Waits on `cv` until `pred()` holds or `deadline` passes (InfiniteFuture:
// no deadline); returns `pred()`.
template <typename Pred>
bool WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
               absl::Time deadline, Pred pred) {
  if (deadline == absl::InfiniteFuture()) {
    cv.wait(lock, pred);
    return true;
  }
  while (!pred()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return pred();
    cv.wait_for(lock, absl::ToChronoNanoseconds(left));
  }
  return true;
}

// ThreadRole
//
// Marks the calling thread as working for `owner` (a pool, a worker) while
// the object lives, so that the owner can tell a call from its own threads,
// such as a handler calling its pool's `Shutdown()`, which must not wait
// for (or join) the thread it runs on. Roles nest: a thread may work for a
// pool and for one of its workers at once.
//
// Example:
//   threads_.emplace_back([this] {
//     ThreadRole role(this);
//     Loop();
//   });
//   ...
//   if (ThreadRole::Active(this)) { RequestStop(); return; }
class ThreadRole {
 public:
  explicit ThreadRole(const void* owner) : owner_(owner), outer_(current_) {
    current_ = this;
  }
  ~ThreadRole() { current_ = outer_; }
  ThreadRole(const ThreadRole&) = delete;
  ThreadRole& operator=(const ThreadRole&) = delete;

  // Whether the calling thread works for `owner` now.
  static bool Active(const void* owner) {
    for (const ThreadRole* r = current_; r != nullptr; r = r->outer_) {
      if (r->owner_ == owner) return true;
    }
    return false;
  }

 private:
  const void* const owner_;
  const ThreadRole* const outer_;
  static inline thread_local const ThreadRole* current_ = nullptr;
};

}  // namespace qg::internal

#endif  // QG_INTERNAL_SYNC_H_
