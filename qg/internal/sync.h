// qg/internal/sync.h
// -----------------------------------------------------------------------------
//
// qg-cpp's locks: `Mutex`, `MutexLock` and `CondVar`, thin wrappers of
// std::mutex, std::unique_lock and std::condition_variable that carry
// clang's thread-safety annotations. abseil's `ABSL_GUARDED_BY` and friends
// are checked on them by the clang build (`--config=clang`, part of CI:
// -Wthread-safety -Werror), while ThreadSanitizer still sees the std::mutex
// underneath (absl::Mutex is not an option: the abseil library on these
// machines is not built with ThreadSanitizer's annotations, so
// `--config=tsan` could not see its happens-before edges).
//
// Example:
//   class Counter {
//    public:
//     void Add() ABSL_LOCKS_EXCLUDED(mu_) {
//       MutexLock lock(mu_);
//       ++n_;
//       changed_.SignalAll();
//     }
//     void WaitFor(int n) {
//       MutexLock lock(mu_);
//       while (n_ < n) changed_.Wait(lock);
//     }
//    private:
//     Mutex mu_;
//     CondVar changed_;
//     int n_ ABSL_GUARDED_BY(mu_) = 0;
//   };
//
// A predicate that a wait runs (a lambda) is analysed on its own: it starts
// with `mu_.AssertHeld();`.
#ifndef QG_INTERNAL_SYNC_H_
#define QG_INTERNAL_SYNC_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "qg/internal/test_hooks.h"

namespace qg::internal {

// Mutex
//
// A std::mutex that clang's analysis knows as a capability.
class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

  // Tells the analysis that the calling code holds the mutex, where it
  // cannot see it (a predicate lambda run by a wait). Checks nothing.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// MutexLock
//
// Holds `mu` for its scope; `Unlock()` lets go for a while (I/O, a
// handler) and `Lock()` takes it back.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : lock_(mu.mu_) {}
  ~MutexLock() ABSL_UNLOCK_FUNCTION() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() ABSL_UNLOCK_FUNCTION() { lock_.unlock(); }
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { lock_.lock(); }

 private:
  friend class CondVar;
  std::unique_lock<std::mutex> lock_;
};

// CondVar
//
// A condition variable for code holding a `MutexLock`.
class CondVar {
 public:
  // Waits until signalled (or a spurious wake-up): loop on the condition.
  void Wait(MutexLock& lock) { cv_.wait(lock.lock_); }

  // Waits until `pred()` holds or `deadline` passes (InfiniteFuture: no
  // deadline); returns `pred()`. `pred` runs with the lock held.
  template <typename Pred>
  bool WaitUntil(MutexLock& lock, absl::Time deadline, Pred pred) {
    while (!pred()) {
      if (deadline == absl::InfiniteFuture()) {
        cv_.wait(lock.lock_);
        continue;
      }
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return pred();
      cv_.wait_for(lock.lock_, absl::ToChronoNanoseconds(left));
    }
    return true;
  }

  // Waits until signalled (or a spurious wake-up) or `deadline` passes.
  void WaitWithDeadline(MutexLock& lock, absl::Time deadline) {
    if (deadline == absl::InfiniteFuture()) {
      cv_.wait(lock.lock_);
      return;
    }
    absl::Duration left = deadline - absl::Now();
    if (left > absl::ZeroDuration()) {
      cv_.wait_for(lock.lock_, absl::ToChronoNanoseconds(left));
    }
  }

  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

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

// StartThread()
//
// A thread running `fn`, or `ResourceExhausted` when the system cannot make
// one (std::thread throws std::system_error: a process or memory limit), so
// that callers can undo what they started and say why instead of letting
// the exception end the process.
template <typename Fn>
absl::StatusOr<std::thread> StartThread(Fn&& fn) {
  std::atomic<int>& left = ThreadStartsLeftForTesting();
  if (left.load() == 0) {
    return absl::ResourceExhaustedError(
        "cannot start a thread: the system has none left (a test's limit)");
  }
  if (left.load() > 0) left.fetch_sub(1);
  try {
    return std::thread(std::forward<Fn>(fn));
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start a thread: ", e.what()));
  }
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
