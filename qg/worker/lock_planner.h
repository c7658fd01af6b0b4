// qg/worker/lock_planner.h
// -----------------------------------------------------------------------------
//
// The fast pool's lock planner (internal): decides, from the pool's state
// and the time, what the locker's next round trip asks for: how many jobs to
// lock and with which query, which buffered jobs to re-check before they
// start, whether to ask when the next scheduled job is due, and when to look
// again if nothing wakes the locker first. Pure: no I/O, no threads; the time
// is an argument, so tests drive it with a table of events and instants.
//
// The rules, each a test in lock_planner_test.cc:
//   - Lock in batches: when the workers are about to run dry, or when at
//     least half the buffer has room; never more than `workers + buffer` held.
//   - Look for work when told (NOTIFY for the queue, a due time passed, a
//     lock batch came back full) and at least every `poll_interval`.
//   - A NOTIFY of a job more urgent than the least urgent buffered job locks
//     even when the buffer is full, so priority order holds across refills
//     (the pool then releases what no longer fits).
//   - A buffered job starts only if its row was checked, under its lock, at
//     most `recheck_after` ago; older ones are re-checked first, in the
//     round trip that takes them.
//   - Candidates held by another worker switch locking to the walking query
//     until a batch comes back uncontended.
//   - A failed round trip backs off exponentially (50 ms .. 5 s), so a
//     persistent error does not spin.
#ifndef QG_WORKER_LOCK_PLANNER_H_
#define QG_WORKER_LOCK_PLANNER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "qg/internal/queries.h"

namespace qg::internal {

struct PlannerOptions {
  // Worker threads of the pool (at least 1).
  int workers = 1;
  // Jobs locked ahead of the workers (at least 0).
  int buffer = 4;
  // The longest the locker goes without looking for work. Default: 5s.
  absl::Duration poll_interval = absl::Seconds(5);
  // How old a buffered job's last check may be when it starts. Default: 25ms.
  absl::Duration recheck_after = absl::Milliseconds(25);
  // Backoff after a failed round trip: doubles from `retry_min` up to
  // `retry_max`.
  absl::Duration retry_min = absl::Milliseconds(50);
  absl::Duration retry_max = absl::Seconds(5);
};

// A buffered (locked, not started) job as the planner sees it.
struct BufferedJob {
  JobKey key;
  absl::Time checked_at;  // when its row was last seen unchanged under lock
};

// The pool's state at the moment of planning.
struct PoolView {
  int idle_workers = 0;  // workers waiting for a job
  int held = 0;          // jobs whose locks the session holds (any stage)
  std::vector<BufferedJob> buffered;  // in (priority, run_at, id) order
  bool writes_pending = false;        // completions to write or release
  bool stopping = false;
};

// What the next round trip asks for.
struct Plan {
  bool round_trip = false;      // false: wait until `wake_at` or a wake-up
  int lock = 0;                 // jobs to lock
  bool walk = false;            // lock with the walking query (contended)
  std::vector<JobKey> confirm;  // buffered jobs to re-check
  bool next_due = false;        // ask when the next future job is due
  absl::Time wake_at = absl::InfiniteFuture();
};

class LockPlanner {
 public:
  explicit LockPlanner(PlannerOptions options);

  const PlannerOptions& options() const { return options_; }

  // Decide()
  //
  // The plan for `view` at `now`. Call it, run the round trip it asks for,
  // report back, repeat.
  Plan Decide(const PoolView& view, absl::Time now);

  // Fresh()
  //
  // Whether a buffered job checked at `checked_at` may start at `now`.
  bool Fresh(absl::Time checked_at, absl::Time now) const {
    return now - checked_at <= options_.recheck_after;
  }

  // Events, in local time.
  // A new session: anything may be runnable; the next due time is unknown.
  void SessionOpened(absl::Time now);
  // A job of the pool's queue was inserted, due at `run_at` (local clock),
  // with priority `priority` when the payload says.
  void Notified(absl::Time run_at, std::optional<int16_t> priority,
                absl::Time now);
  // A lock query asked for `asked` jobs, saw `candidates` rows and locked
  // `locked` of them.
  void Locked(int asked, int candidates, int locked, absl::Time now);
  // The next future job is due in `due_in` (nullopt: none), as of `at`.
  void NextDue(std::optional<absl::Duration> due_in, absl::Time at);
  // A round trip failed (a statement, or the connection).
  void Failed(absl::Time now);
  // A round trip went through.
  void Succeeded();

 private:
  const PlannerOptions options_;
  bool may_have_work_ = true;
  bool need_next_due_ = true;
  bool contended_ = false;
  absl::Time next_due_at_ = absl::InfiniteFuture();
  absl::Time last_lock_ = absl::InfinitePast();
  // The most urgent (priority, run_at) notified since the last lock.
  std::optional<std::pair<int16_t, absl::Time>> notified_best_;
  absl::Duration retry_delay_ = absl::ZeroDuration();
  absl::Time retry_at_ = absl::InfinitePast();
};

}  // namespace qg::internal

#endif  // QG_WORKER_LOCK_PLANNER_H_
