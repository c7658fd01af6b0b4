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

}  // namespace qg::internal

#endif  // QG_INTERNAL_SYNC_H_
