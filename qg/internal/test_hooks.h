// qg/internal/test_hooks.h
// -----------------------------------------------------------------------------
//
// Seams that let tests make races happen on purpose. Unset (empty) in
// production; setting one is for tests only and not thread-safe with running
// clients.
#ifndef QG_INTERNAL_TEST_HOOKS_H_
#define QG_INTERNAL_TEST_HOOKS_H_

#include <atomic>
#include <cstdint>
#include <functional>

namespace qg::internal {

// Called by `Client::LockJob()` right after the lock query locked `job_id`
// and before the re-check that the row still exists.
inline std::function<void(int64_t job_id)>& AfterLockHookForTesting() {
  static auto* hook = new std::function<void(int64_t)>;
  return *hook;
}

// How many more threads `StartThread()` (qg/internal/sync.h) may start
// before it fails as when the system has no more to give; negative (the
// default): no limit.
inline std::atomic<int>& ThreadStartsLeftForTesting() {
  static auto* left = new std::atomic<int>(-1);
  return *left;
}

}  // namespace qg::internal

#endif  // QG_INTERNAL_TEST_HOOKS_H_
