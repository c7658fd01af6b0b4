// qg/worker/wake_source.h
// -----------------------------------------------------------------------------
//
// What wakes a fast pool's locker (internal): `WakeSource` is the eventfd that
// worker threads poke (a job finished, shutdown) and the poll() that waits on
// it together with the locker session's socket (NOTIFY, a broken
// connection) until a deadline; `ParseJobsNotification` reads the payload of
// a `qg_jobs` notification.
#ifndef QG_WORKER_WAKE_SOURCE_H_
#define QG_WORKER_WAKE_SOURCE_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/clock.h"

namespace qg::internal {

// A `qg_jobs` notification: jobs were inserted into `queue`; the earliest of
// them is due at `run_at` by the database's clock, and the most urgent has
// priority `priority` (lower runs first).
struct JobsNotification {
  std::string queue;
  absl::Time run_at;
  std::optional<int16_t> priority;  // absent in payloads of older triggers
};

// ParseJobsNotification()
//
// Parses "<run_at epoch seconds>:<priority>\t<queue>" (and the older
// "<epoch>\t<queue>"); nullopt for anything else.
std::optional<JobsNotification> ParseJobsNotification(
    absl::string_view payload);

// A `qg_control` notification: pause or resume a queue, or cancel a job.
struct ControlNotification {
  enum class Kind { kPause, kResume, kCancel };
  Kind kind;
  std::string queue;  // kPause, kResume
  int64_t id = 0;     // kCancel
};

// ParseControlNotification()
//
// Parses "pause\t<queue>", "resume\t<queue>" or "cancel\t<id>"; nullopt
// for anything else.
std::optional<ControlNotification> ParseControlNotification(
    absl::string_view payload);

// WakeSource
//
// Thread-safe `Wake()`; `Wait()` is for the one locker thread.
class WakeSource {
 public:
  WakeSource();
  ~WakeSource();
  WakeSource(const WakeSource&) = delete;
  WakeSource& operator=(const WakeSource&) = delete;

  // `Internal` when the eventfd could not be created.
  absl::Status status() const;

  // Makes the current or next `Wait()` return at once. Wake-ups before that
  // `Wait()` returns are one: only the first writes to the eventfd (a
  // finishing job wakes the locker, and a busy pool finishes thousands a
  // second while the locker is in a round trip).
  void Wake();

  enum class Event { kWoken, kSocket, kDeadline };

  // Wait()
  //
  // Waits until `Wake()`, until `socket` or `other_socket` (-1: none) is
  // readable, or until `deadline` on `clock`. Clears the wake-up.
  Event Wait(int socket, absl::Time deadline, const Clock& clock,
             int other_socket = -1);

 private:
  int fd_ = -1;
  int error_ = 0;
  // A wake-up is written and not yet taken by `Wait()`.
  std::atomic<bool> pending_{false};
};

}  // namespace qg::internal

#endif  // QG_WORKER_WAKE_SOURCE_H_
