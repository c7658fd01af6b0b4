// qg/worker/lock_planner.h
// -----------------------------------------------------------------------------
//
// The fast pool's lock planner (internal): decides, from the pool's state
// and the time, what the locker's next round trip asks for: how many jobs to
// lock and from where, which buffered jobs to re-check before they start or
// to release, when to sweep (see below), and when to look again if nothing
// wakes the locker first. Pure: no I/O, no threads; the
// time is an argument, so tests drive it with a table of events and instants.
//
// The rules, each a test in lock_planner_test.cc:
//   - Lock ahead as many jobs as the workers run in about two round trips
//     (from the observed handler run time and round-trip time), so that
//     short jobs travel in big batches while a pool of long jobs holds about
//     one job per free worker, as Que does (`buffer` >= 0 fixes it instead).
//   - Lock in batches: when the workers are about to run dry, or when at
//     least half the buffer has room; never more than workers + buffer held.
//   - Continue each scan after the last key the previous one looked at (the
//     cursor), so index entries of finished rows behind it are not walked
//     again. When something may have appeared behind the cursor (a NOTIFY or
//     a due time that sorts before it, released buffered jobs), the next
//     scan first rewinds over just that range: from the earliest such key up
//     to the cursor. A new session starts at the head. A rewind cut short by
//     `max_scan` continues where it stopped.
//   - Sweep, on a connection of its own so that the walk from the head of
//     the queue (over dead rows vacuum may be unable to remove) never delays
//     a round trip: it finds jobs nobody holds behind the cursor (a job whose
//     worker died, one another pool gave back), which the next scan rewinds
//     to, and when the next scheduled job is due. At a new session, when a
//     due time from a sweep or a reschedule of ours passed, and otherwise
//     every `poll_interval` or, when the sweep is slow, every 50 times what
//     it took (at least once a minute). One sweep at a time.
//   - Look for work when told (NOTIFY for the queue, a due time passed, a
//     lock batch came back full) and at least every `poll_interval`.
//   - NOTIFY tells of new jobs, future ones included (each gets a timer);
//     a retry or snooze of ours sets a timer for its new run_at.
//   - A NOTIFY of a job more urgent than the least urgent buffered job locks
//     even when the buffer is full, so priority order holds across refills
//     (the pool then releases what no longer fits).
//   - A buffered job starts only if the check of its row, under its lock,
//     answered at most `recheck_after` ago; older ones are re-checked first,
//     in the round trip that takes them.
//   - A buffered job that waited longer than `max_buffer_wait` is released
//     for other workers, unless an idle worker is about to start it (it is
//     re-checked instead). Que's order holds across such a release: nothing
//     is locked from the round trip that releases a job until its lock is
//     gone and the next scan has rewound to it, so a job given back is the
//     next one taken when nobody else took it; and the pool locks only for
//     idle workers until a handler finishes (the jobs are slower than the
//     buffer assumed).
//   - A failed round trip backs off exponentially (50 ms .. 5 s), so a
//     persistent error does not spin.
//   - A paused queue locks nothing and gives back its buffered jobs; it
//     looks again once a second (a resume NOTIFY ends the pause at once).
#ifndef QG_WORKER_LOCK_PLANNER_H_
#define QG_WORKER_LOCK_PLANNER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "qg/internal/queries.h"

namespace qg::internal {

struct PlannerOptions {
  // Worker threads of the pool (at least 1).
  int workers = 1;
  // Jobs locked ahead of the workers: -1 adapts it (see the rules above),
  // 0 or more fixes it.
  int buffer = -1;
  // The most an adaptive buffer grows to.
  int max_buffer = 1000;
  // The most jobs one round trip locks or re-checks, so that a round trip
  // stays short (its jobs' checks are dated from when it was sent). A
  // draining pool locks this many per round trip, and its round trip is in
  // flight most of a drain: 500 drained 6-15% more than 250 (bench s14,
  // side by side: fixed costs per call amortized over more jobs), 1000 no
  // more than 500 at 8 workers and less at 1 and 32.
  int max_batch = 500;
  // The longest the locker goes without looking for work. Default: 5s.
  absl::Duration poll_interval = absl::Seconds(5);
  // How old a buffered job's last check may be when it starts. Default: 25ms.
  absl::Duration recheck_after = absl::Milliseconds(25);
  // How long a buffered job may wait for a worker before it is released for
  // others. Default: 500ms.
  absl::Duration max_buffer_wait = absl::Milliseconds(500);
  // Backoff after a failed round trip: doubles from `retry_min` up to
  // `retry_max`.
  absl::Duration retry_min = absl::Milliseconds(50);
  absl::Duration retry_max = absl::Seconds(5);
};

// A buffered (locked, not started) job as the planner sees it.
struct BufferedJob {
  JobKey key;
  absl::Time checked_at;  // when its row was last seen unchanged under lock
  absl::Time locked_at;
  // Waiting for a flow-control slot that no job of the pool will hand on
  // (none holds one of its bucket: they finished before it was locked, or
  // hand-offs stopped for a change to limits): given back at once, so that
  // the next scan takes it with a free slot.
  bool no_slot_coming = false;
};

// The pool's state at the moment of planning.
struct PoolView {
  int idle_workers = 0;  // workers waiting for a job
  int held = 0;  // jobs buffered or running (finished ones do not count)
  std::vector<BufferedJob> buffered;  // in (priority, run_at, id) order
  // Buffered jobs locked without a flow-control slot: none starts before a
  // finishing job hands it one; given back after max_buffer_wait. Only
  // those the planner acts on (so that a pool holding hundreds of them does
  // not copy them all at every wake-up): those whose last check is getting
  // old (at most max_batch, in order), re-checked riding round trips so that
  // a hand-off may start its job at once, and those waiting longer than
  // max_buffer_wait or for a slot no job hands on (no_slot_coming).
  // `waiting_slot_oldest`: when the longest waiting of all
  // of them was locked (InfiniteFuture: none waits).
  std::vector<BufferedJob> waiting_slot;
  absl::Time waiting_slot_oldest = absl::InfiniteFuture();
  // Buffered jobs given back whose locks are not released yet: nothing is
  // locked until they are, so that the scan can go back for them first.
  int releasing = 0;
  bool writes_pending = false;  // completions to write or release
  bool acks_pending = false;    // cancel requests to acknowledge
  bool stopping = false;
};

// What the next round trip asks for.
struct Plan {
  bool round_trip = false;  // false: wait until `wake_at` or a wake-up
  bool hand_due = false;    // RoundTripBy()'s time came
  int lock = 0;             // jobs to lock
  // Where the lock scan continues: after this key, or at the head (nullopt).
  std::optional<JobKey> after;
  // A range behind `after` to scan first: from after this key up to `after`.
  // Its run_at_text is empty; the run_at is on the database's clock.
  std::optional<JobKey> rewind;
  int max_scan = 0;  // candidates the scan may look at
  // Jobs held back by limits to look at first (LimitBlocked), and their
  // buckets (hashes, as the lock scan reported them).
  std::vector<JobKey> probes;
  std::vector<int64_t> probe_buckets;
  std::vector<JobKey> confirm;  // buffered jobs to re-check
  std::vector<JobKey> release;  // buffered jobs to give back
  // Start a sweep (none is under way): free jobs before `sweep_before`
  // (nullopt: none looked for) and the next due time.
  bool sweep = false;
  std::optional<JobKey> sweep_before;
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

  // The buffer the planner aims for now: fixed, or adapted to the observed
  // run and round-trip times.
  int BufferTarget() const;

  // Events, in local time.
  // A new session: anything may be runnable; the next due time is unknown.
  void SessionOpened(absl::Time now);
  // A job of the pool's queue was inserted, due at `run_at` (local clock),
  // with priority `priority` when the payload says.
  void Notified(absl::Time run_at, std::optional<int16_t> priority,
                absl::Time now);
  // A lock scan asked for `asked` jobs, locked `locked`, looked at
  // `scanned` candidates, the last of which after the cursor was `last`
  // (nullopt: none), and reached the end of the runnable jobs when
  // `exhausted`; its rewind stopped short at `rewind_stopped` (nullopt: it
  // covered its range, or there was none).
  void Locked(int asked, int locked, int scanned,
              const std::optional<JobKey>& last, bool exhausted, absl::Time now,
              const std::optional<JobKey>& rewind_stopped = std::nullopt);
  // A sweep sent at `at` came back after `took`: `free` jobs nobody holds
  // behind the cursor; the next future job is due in `due_in` from `at`
  // (nullopt: none), with priority `priority`.
  void Swept(const std::vector<JobKey>& free,
             std::optional<absl::Duration> due_in,
             std::optional<int16_t> priority, absl::Time at,
             absl::Duration took = absl::ZeroDuration());
  // A sweep sent at `at` failed after `took` (a statement error such as a
  // missing grant, or its connection): the next lock scan starts from the
  // head instead, and the next sweep waits as after a slow one.
  void SweepFailed(absl::Time at, absl::Duration took);
  // This pool moved a job of priority `priority` to a later run_at (a
  // retry, a snooze), due at about `due` (local clock; the write commits a
  // round trip or so later): look for it then, and ask then when the next
  // job is due, in case the write came later still.
  void Rescheduled(int16_t priority, absl::Time due);
  // Buffered jobs were released: they sort before the cursor. The next
  // scan rewinds to them, even when the last one reached the end of the
  // queue (a pending rewind always counts as work that may wait).
  void Released(const std::vector<JobKey>& keys);
  // Flow control: a lock scan's limits held back `first` (per full bucket,
  // its first job held back; the cursor has passed them); a rate limit has
  // a token again at `retry_at` (local clock; InfiniteFuture: none held one
  // back). The next scans probe those jobs (`Plan::probes`, at most
  // kMaxProbes at a time, in turn) when this pool frees a limit's slot
  // (`LimitFreed`), when the token is due, and at least every kLimitRetry
  // (slots other pools free). At most kMaxHeldBack are remembered; those
  // past it are found again by the sweep.
  void LimitBlocked(const std::vector<std::pair<int64_t, JobKey>>& first,
                    absl::Time retry_at, absl::Time now);
  void LimitFreed();
  // A round trip by `at` at the latest, even with nothing to lock (the pool
  // holds flow control's hand-off lock, which it lets go of now and then so
  // that a change to limits is not kept waiting): that plan has `hand_due`.
  void RoundTripBy(absl::Time at) {
    round_trip_by_ = std::min(round_trip_by_, at);
  }
  static constexpr absl::Duration kLimitRetry = absl::Milliseconds(100);
  // The longest a sweep's jobs wait for a rewind while scans have not gone
  // on from the cursor since the last one (see Swept).
  static constexpr absl::Duration kSweepBackAgain = absl::Seconds(1);
  static constexpr size_t kMaxProbes = 32;
  static constexpr size_t kMaxHeldBack = 1024;
  // The database's clock minus ours: due times and NOTIFY times arrive on
  // ours, keys are on the database's.
  void ClockOffset(absl::Duration db_minus_local) {
    db_offset_ = db_minus_local;
  }
  // The queue was paused (a NOTIFY, or a lock scan said so) or resumed.
  void Paused(bool paused);
  bool paused() const { return paused_; }
  // The pool's client was closed: as paused for good, without looking for
  // a resume.
  void ClientClosed() { client_closed_ = true; }
  bool client_closed() const { return client_closed_; }
  // A round trip took `took`; `scanned`: it carried a lock scan. The
  // buffer is sized from the round trips that lock (a round trip that only
  // writes finished jobs is several times shorter, and the buffer must
  // last while a lock scan is in flight).
  void RoundTrip(absl::Duration took, bool scanned = false);
  // What round trips take, on average lately (zero before the first).
  absl::Duration round_trip() const { return round_trip_; }
  // A handler ran for `took`.
  void Ran(absl::Duration took);
  // A round trip failed (a statement, or the connection).
  void Failed(absl::Time now);
  // A round trip went through.
  void Succeeded();

  // PlanContinuation()
  //
  // Right after a lock scan's answer was read (`Locked()` told), before the
  // pool applies it: the plan of the next scan on from the new cursor, to
  // send at once so that the server scans while the pool takes the answer
  // in (nullopt: none now). Only a plain continuation qualifies: the pool
  // holds `held` jobs counting that answer's, `releasing` of them are being
  // given back, nothing asks for a rewind, a scan from the head or probes,
  // and the answer did not reach the end of the runnable jobs. Until
  // it is collected (or a new session opens), `Decide()` plans no
  // other scan and asks for a round trip, which collects it; then
  // `ContinuationCollected()`, and `Locked()` if it answered.
  std::optional<Plan> PlanContinuation(int held, int releasing, absl::Time now);
  void ContinuationCollected() { continuing_ = false; }
  // Due times, announced jobs and intervals that passed by `now` (Decide()
  // looks at them, except while a continuation is in flight: the cursor it
  // moves decides whether they sort behind it; call this once it is
  // collected and Locked() was told).
  void TimePassed(absl::Time now) { NoteTimePassed(now); }
  // Whether a continuation is in flight.
  bool continuing() const { return continuing_; }

 private:
  // Where lock scans go: on after the cursor, first over a range behind it
  // (the rewind), or from the head.
  struct ScanState {
    // Where the next scan continues; nullopt: from the head.
    std::optional<JobKey> cursor;
    // The range behind the cursor the next scan covers first.
    std::optional<JobKey> rewind;
    // The rewind the round trip in flight carries (given back if it fails).
    std::optional<JobKey> rewind_in_flight;
    // The next scan starts from the head (a sweep failed); whether the
    // round trip in flight does (given back if it fails).
    bool from_head = false;
    bool from_head_in_flight = false;
    // A sweep sent the scan back (Swept, at `swept_back_at`) and no scan has
    // gone on from the cursor since: the next sweep does not send it back
    // again, for up to kSweepBackAgain.
    bool swept_back = false;
    absl::Time swept_back_at = absl::InfinitePast();
  };
  // The background sweep.
  struct SweepState {
    bool in_flight = false;  // one is under way
    bool wanted = true;      // start one as soon as none is under way
    bool due = false;        // a due time passed: once DueSweepSpacing()
    absl::Time last = absl::InfinitePast();      // when the last was sent
    absl::Duration cost = absl::ZeroDuration();  // what it took
  };
  // When to look again without being told.
  struct DueTimes {
    // When the next scheduled job is due, from a sweep or a reschedule of
    // ours (local clock): when it passes, scan and sweep again.
    absl::Time next_at = absl::InfiniteFuture();
    // That job's own due time (a reschedule is looked for a little after).
    absl::Time next_run_at = absl::InfiniteFuture();
    std::optional<int16_t> next_priority;
    // Future jobs NOTIFY announced (local due time, priority; unknown: the
    // most urgent), earliest first: when each passes, scan; no query
    // needed. At most kMaxAnnounced; past that, ask once they are all due.
    std::set<std::pair<absl::Time, int16_t>> announced;
    bool announced_overflow = false;
  };

  // The steps of Decide(). Due times, announced jobs and the poll interval
  // that passed: more may be runnable (and where).
  void NoteTimePassed(absl::Time now);
  // The plan of a paused queue (or a closed client).
  Plan DecidePaused(const PoolView& view, absl::Time now);
  // Buffered jobs that waited too long, to give back.
  void PlanReleases(const PoolView& view, absl::Time now, Plan& plan);
  // How many to lock, and from where.
  void PlanLock(const PoolView& view, Plan& plan);
  // Buffered jobs to re-check in the round trip.
  void PlanConfirms(const PoolView& view, absl::Time now, Plan& plan) const;
  // When to look again when no round trip is needed.
  absl::Time WakeAt(const PoolView& view) const;

  // Asks the next scan to cover the range after `key` up to the cursor, if
  // `key` sorts before the cursor.
  void RewindTo(const JobKey& key);
  // The earliest key at (priority, local time `at`), on the database's
  // clock, less the error of the clock offset.
  JobKey KeyAt(int16_t priority, absl::Time at) const;
  // How long after a sweep the next one starts unprompted.
  absl::Duration SweepInterval() const;
  // How long after a sweep one that a due time asks for may start: the
  // sweeps take at most about 2% of the sweeper's time.
  absl::Duration DueSweepSpacing() const;

  const PlannerOptions options_;
  bool paused_ = false;
  bool client_closed_ = false;
  // Something may be runnable: a scan would find it.
  bool may_have_work_ = true;
  // A buffered job waited past max_buffer_wait: lock only for idle workers
  // until a handler finishes (`Ran`).
  bool lookahead_off_ = false;
  ScanState scan_;
  SweepState sweep_;
  DueTimes due_;
  absl::Time last_lock_ = absl::InfinitePast();
  absl::Duration db_offset_ = absl::ZeroDuration();
  // The most urgent (priority, run_at) notified since the last lock.
  std::optional<std::pair<int16_t, absl::Time>> notified_best_;
  // Flow control (LimitBlocked): per full bucket (a hash), the earliest
  // job held back; the next bucket to probe after `probe_from_`; whether a
  // probe is due, and when one is.
  std::map<int64_t, JobKey> held_back_;
  std::optional<int64_t> probe_from_;
  bool probe_due_ = false;
  absl::Time limit_retry_at_ = absl::InfiniteFuture();
  absl::Time round_trip_by_ = absl::InfiniteFuture();  // RoundTripBy()
  // A continuation (PlanContinuation) is in flight.
  bool continuing_ = false;
  // The probes of the next plan (PlanLock), taken out of held_back_.
  void PlanProbes(Plan& plan);
  // After a failed round trip: wait until `retry_at_`, doubling the delay.
  absl::Duration retry_delay_ = absl::ZeroDuration();
  absl::Time retry_at_ = absl::InfinitePast();
  // Exponentially weighted averages; zero until observed.
  absl::Duration round_trip_ = absl::ZeroDuration();
  absl::Duration scan_round_trip_ = absl::ZeroDuration();  // those that lock
  absl::Duration run_time_ = absl::ZeroDuration();
};

}  // namespace qg::internal

#endif  // QG_WORKER_LOCK_PLANNER_H_
