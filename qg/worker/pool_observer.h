// qg/worker/pool_observer.h
// -----------------------------------------------------------------------------
//
// `PoolObserver`: what a `WorkerPool` reports about its own work, for metrics
// and benchmarks. Give one to `WorkerOptions::observer`; the pool calls it
// from its threads, so an implementation must be thread-safe and quick (no
// I/O). Every method has an empty default.
//
// Example:
//   class RoundTrips : public qg::PoolObserver {
//    public:
//     void OnRoundTrip(const RoundTrip& r) override { total_ += r.took; }
//     ...
//   };
#ifndef QG_WORKER_POOL_OBSERVER_H_
#define QG_WORKER_POOL_OBSERVER_H_

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/job_end.h"

namespace qg {

class PoolObserver {
 public:
  virtual ~PoolObserver() = default;

  // One round trip of a fast pool's locker session.
  struct RoundTrip {
    absl::Duration took;  // from sending to the last result
    int locked = 0;       // jobs it locked
    int written = 0;      // finished jobs whose outcome it wrote
    int released = 0;     // locks it released
    int rechecked = 0;    // buffered jobs it re-checked
    int buffered = 0;     // jobs waiting in the buffer afterwards
    // Which lane reported: an id unique in the process (a pool with
    // `WorkerOptions::sessions` lanes reports from that many), so that an
    // observer can add up `buffered` over lanes and pools.
    int64_t lane = 0;
    int scanned = 0;  // candidates its lock scan looked at
    // Its lock scan first went back over a range behind the pool's cursor
    // (a job announced there, a released one, a due time, one a sweep found)
    // or walked from the head of the queue (`from_head`: a new session).
    bool rewound = false;
    bool from_head = false;
    // Its lock scan was sent ahead, as the previous answer came in (a
    // continuation on from the cursor, collected by this round trip: `took`
    // is then only the wait for what was left of it).
    bool sent_ahead = false;
  };

  // OnRoundTrip()
  //
  // After each locker round trip (fast path only).
  virtual void OnRoundTrip(const RoundTrip& /*round_trip*/) {}

  // A sweep (fast path only): on a connection of its own, the pool looked
  // for jobs nobody holds behind its cursor and for the next due time.
  struct Sweep {
    absl::Duration took;  // from sending to the answer
    int found = 0;        // jobs nobody held
    bool ok = true;       // false: the statement failed (logged)
  };

  // OnSweep()
  //
  // After each sweep (fast path only).
  virtual void OnSweep(const Sweep& /*sweep*/) {}

  // A job a worker ran. The strings live only during the call.
  struct JobDone {
    absl::string_view queue;
    absl::string_view type;
    JobEnd end;           // how it ended (kReleased: left to run again)
    absl::Time run_at;    // when it was due
    absl::Time started;   // its handler started (queue latency: - run_at)
    absl::Time finished;  // its handler returned and its verbs ran
  };

  // OnJobDone()
  //
  // After each job a worker ran, in both worker modes.
  virtual void OnJobDone(const JobDone& /*job*/) {}
};

}  // namespace qg

#endif  // QG_WORKER_POOL_OBSERVER_H_
