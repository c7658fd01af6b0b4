#include "qg/worker/lock_planner.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

namespace qg::internal {
namespace {

// Future jobs announced by NOTIFY that a planner remembers.
constexpr size_t kMaxAnnounced = 1024;

// Weight of a new observation in the running averages.
constexpr double kAlpha = 0.2;

absl::Duration Average(absl::Duration old, absl::Duration sample) {
  if (old == absl::ZeroDuration()) return sample;
  return old * (1 - kAlpha) + sample * kAlpha;
}

}  // namespace

LockPlanner::LockPlanner(PlannerOptions options) : options_(options) {}

namespace {

// The candidates a scan that locks up to `lock` jobs may look at.
int MaxScan(int lock) { return std::min(4 * lock + 100, 10000); }

}  // namespace

int LockPlanner::BufferTarget() const {
  if (options_.buffer >= 0) return options_.buffer;
  if (run_time_ == absl::ZeroDuration() ||
      round_trip_ == absl::ZeroDuration()) {
    return options_.workers;  // nothing observed yet: one each
  }
  // The jobs the workers run in two round trips that lock (the buffer
  // refills only with those; all round trips until one has locked).
  const absl::Duration refill =
      scan_round_trip_ > absl::ZeroDuration() ? scan_round_trip_ : round_trip_;
  double per_round_trip =
      options_.workers *
      absl::FDivDuration(refill, std::max(run_time_, absl::Microseconds(5)));
  double target = std::floor(2 * per_round_trip);
  return static_cast<int>(
      std::clamp(target, 0.0, static_cast<double>(options_.max_buffer)));
}

JobKey LockPlanner::KeyAt(int16_t priority, absl::Time at) const {
  // The offset is known within half a round trip; NOTIFY times to the
  // microsecond.
  JobKey key;
  key.priority = priority;
  key.run_at = at + db_offset_ - absl::Milliseconds(1) - round_trip_;
  key.id = std::numeric_limits<int64_t>::min();
  return key;
}

void LockPlanner::RewindTo(const JobKey& key) {
  if (!scan_.cursor) return;  // the scan starts at the head anyway
  // PostgreSQL keeps microseconds: a key between two of them would be
  // rounded down on the way there, and the scan would start earlier than
  // the pool's list of held jobs assumes.
  JobKey k = key;
  if (k.run_at != absl::InfinitePast() && k.run_at != absl::InfiniteFuture()) {
    k.run_at = absl::UnixEpoch() +
               absl::Floor(k.run_at - absl::UnixEpoch(), absl::Microseconds(1));
  }
  k.run_at_text.clear();
  if (!(k < *scan_.cursor)) return;
  if (!scan_.rewind || k < *scan_.rewind) scan_.rewind = std::move(k);
}

absl::Duration LockPlanner::DueSweepSpacing() const {
  return std::min(50 * sweep_.cost, absl::Minutes(1));
}

absl::Duration LockPlanner::SweepInterval() const {
  return std::clamp(50 * sweep_.cost, options_.poll_interval,
                    std::max(options_.poll_interval, absl::Minutes(1)));
}

void LockPlanner::SessionOpened(absl::Time now) {
  may_have_work_ = true;
  continuing_ = false;  // it went with the session it was sent on
  notified_best_.reset();
  // A new session scans from the head and sweeps at once; due times are
  // unknown until that sweep answers. The sweep's pacing is kept.
  scan_ = ScanState();
  due_ = DueTimes();
  held_back_.clear();
  probe_from_.reset();
  probe_due_ = false;
  limit_retry_at_ = absl::InfiniteFuture();
  sweep_.in_flight = false;
  sweep_.wanted = true;
  sweep_.due = false;
  (void)now;
}

void LockPlanner::Notified(absl::Time run_at, std::optional<int16_t> priority,
                           absl::Time now) {
  // Unknown urgency (an older trigger): assume the most urgent.
  int16_t p = priority.value_or(-32768);
  // Our idea of the database's clock is off by up to half a round trip: a
  // job due about now may look a moment ahead, or be a moment ahead. Scan
  // now, and again when it is surely due.
  const absl::Duration slack = absl::Milliseconds(2) + round_trip_;
  if (run_at > now) {
    due_.announced.insert({run_at + slack, p});
    if (due_.announced.size() > kMaxAnnounced) {
      due_.announced.erase(std::prev(due_.announced.end()));
      due_.announced_overflow = true;
    }
    if (run_at > now + slack) return;
  }
  may_have_work_ = true;
  RewindTo(KeyAt(p, std::min(run_at, now)));
  std::pair<int16_t, absl::Time> key{p, run_at};
  if (!notified_best_ || key < *notified_best_) notified_best_ = key;
}

void LockPlanner::Locked(int asked, int locked, int scanned,
                         const std::optional<JobKey>& last, bool exhausted,
                         absl::Time now,
                         const std::optional<JobKey>& rewind_stopped) {
  last_lock_ = now;
  notified_best_.reset();
  // A scan that went on from the cursor (no rewind, not from the head): a
  // sweep may send the scan back again.
  if (!scan_.rewind_in_flight && !scan_.from_head_in_flight && !scan_.rewind) {
    scan_.swept_back = false;
  }
  if (last) scan_.cursor = last;
  if (rewind_stopped) RewindTo(*rewind_stopped);
  scan_.rewind_in_flight.reset();
  scan_.from_head_in_flight = false;
  // More may wait unless the scan reached the end of the runnable jobs; a
  // scan that stopped at max_scan (others hold the candidates) continues
  // from its cursor next time. A range behind the cursor still to rewind
  // over (jobs given back while this scan was in flight, a rewind cut
  // short) is work this scan did not look at, whatever it found after it.
  // Likewise jobs held back by limits whose probe is due (a slot freed
  // while this scan was in flight).
  may_have_work_ = !exhausted || scan_.rewind.has_value() || scan_.from_head ||
                   (probe_due_ && !held_back_.empty());
  (void)asked;
  (void)locked;
  (void)scanned;
}

void LockPlanner::Swept(const std::vector<JobKey>& free,
                        std::optional<absl::Duration> due_in,
                        std::optional<int16_t> priority, absl::Time at,
                        absl::Duration took) {
  sweep_.in_flight = false;
  sweep_.last = at;
  sweep_.cost = took;
  // Jobs nobody holds behind the cursor: go back for them, unless the scan
  // has not gone on past the cursor since the last sweep sent it back. A
  // job a limit holds back is one nobody holds: behind a full bucket of
  // thousands, each sweep (every 50 sweep costs) sent the scan back into the
  // bucket before it got through, and the jobs after the bucket waited for
  // it to drain. Now a scan on from the cursor comes between two such
  // rewinds; a job let go behind the cursor meanwhile is found by the sweep
  // after, or a second after the last rewind at the latest (scans that all
  // carry a rewind, as under a stream of inserts, do not hold it up longer).
  if (!free.empty() &&
      (!scan_.swept_back || at - scan_.swept_back_at >= kSweepBackAgain)) {
    scan_.swept_back = true;
    scan_.swept_back_at = at;
    may_have_work_ = true;
    const JobKey& first = *std::min_element(free.begin(), free.end());
    JobKey before = first;
    before.id = first.id == std::numeric_limits<int64_t>::min() ? first.id
                                                                : first.id - 1;
    RewindTo(before);
  }
  if (due_in.has_value() && at + *due_in < due_.next_at) {
    due_.next_at = at + *due_in;
    due_.next_run_at = due_.next_at;
    due_.next_priority = priority;
  }
}

void LockPlanner::SweepFailed(absl::Time at, absl::Duration took) {
  sweep_.in_flight = false;
  sweep_.last = at;
  sweep_.cost = std::max(took, options_.poll_interval);
  // What the sweep would have found (jobs let go behind the cursor, jobs
  // rescheduled there) is found by scanning from the head instead.
  scan_.from_head = true;
  may_have_work_ = true;
}

void LockPlanner::Rescheduled(int16_t priority, absl::Time due) {
  // A little after it: its write goes out in a later round trip.
  absl::Time at = due + absl::Milliseconds(50) + round_trip_;
  if (at < due_.next_at) {
    due_.next_at = at;
    due_.next_run_at = due;
    due_.next_priority = priority;
  }
}

void LockPlanner::Released(const std::vector<JobKey>& keys) {
  // They are runnable and nobody holds them: look for them, even when the
  // last scan reached the end of the queue.
  if (!keys.empty()) may_have_work_ = true;
  for (const JobKey& k : keys) {
    JobKey before = k;
    before.id = k.id == std::numeric_limits<int64_t>::min() ? k.id : k.id - 1;
    RewindTo(before);
  }
}

void LockPlanner::LimitBlocked(
    const std::vector<std::pair<int64_t, JobKey>>& first, absl::Time retry_at,
    absl::Time now) {
  for (const auto& [bucket, key] : first) {
    auto it = held_back_.find(bucket);
    if (it == held_back_.end()) {
      if (held_back_.size() >= kMaxHeldBack) continue;
      held_back_.emplace(bucket, key);
    } else if (key < it->second) {
      it->second = key;
    }
  }
  if (held_back_.empty()) return;
  // A little early for a token: the scan reaches the database a round trip
  // later, and one that comes too early is told again how long to wait.
  limit_retry_at_ = std::min(
      {limit_retry_at_, retry_at - round_trip_ / 2, now + kLimitRetry});
}

void LockPlanner::LimitFreed() {
  if (held_back_.empty()) return;
  may_have_work_ = true;
  probe_due_ = true;
}

void LockPlanner::PlanProbes(Plan& plan) {
  if (!probe_due_ || held_back_.empty()) return;
  // In turn: from after the last one probed, wrapping around.
  auto it =
      probe_from_ ? held_back_.upper_bound(*probe_from_) : held_back_.begin();
  int64_t last = 0;
  while (plan.probes.size() < kMaxProbes && !held_back_.empty()) {
    if (it == held_back_.end()) it = held_back_.begin();
    plan.probes.push_back(it->second);
    plan.probe_buckets.push_back(it->first);
    last = it->first;
    it = held_back_.erase(it);
  }
  probe_from_ = last;
  probe_due_ = false;
  limit_retry_at_ = absl::InfiniteFuture();
}

void LockPlanner::Paused(bool paused) {
  if (paused_ && !paused) may_have_work_ = true;
  paused_ = paused;
}

void LockPlanner::RoundTrip(absl::Duration took, bool scanned) {
  round_trip_ = Average(round_trip_, took);
  if (scanned) scan_round_trip_ = Average(scan_round_trip_, took);
}

void LockPlanner::Ran(absl::Duration took) {
  run_time_ = Average(run_time_, took);
  lookahead_off_ = false;
}

void LockPlanner::Failed(absl::Time now) {
  retry_delay_ =
      std::clamp(retry_delay_ * 2, options_.retry_min, options_.retry_max);
  retry_at_ = now + retry_delay_;
  may_have_work_ = true;
  if (scan_.rewind_in_flight) RewindTo(*scan_.rewind_in_flight);
  scan_.rewind_in_flight.reset();
  if (scan_.from_head_in_flight) scan_.from_head = true;
  scan_.from_head_in_flight = false;
}

std::optional<Plan> LockPlanner::PlanContinuation(int held, int releasing,
                                                  absl::Time now) {
  if (continuing_ || paused_ || client_closed_ || !may_have_work_ ||
      lookahead_off_ || releasing > 0 || now < retry_at_ || !scan_.cursor ||
      scan_.rewind || scan_.from_head || scan_.rewind_in_flight ||
      scan_.from_head_in_flight || !held_back_.empty() || probe_due_ ||
      notified_best_) {
    return std::nullopt;
  }
  // PlanLock()'s batching rule for a round trip that goes anyway (a
  // quarter of the buffer has room), the answer's jobs counted as held: the
  // buffer drains while the scan is in flight.
  const int buffer = BufferTarget();
  const int free = options_.workers + buffer - held;
  if (free < std::max(1, buffer / 4)) return std::nullopt;
  Plan plan;
  plan.round_trip = true;
  plan.lock = std::min(free, options_.max_batch);
  plan.max_scan = MaxScan(plan.lock);
  plan.after = scan_.cursor;
  continuing_ = true;
  return plan;
}

void LockPlanner::Succeeded() { retry_delay_ = absl::ZeroDuration(); }

// Decide() in steps: after a failure, wait; take in the time that passed
// (due times, announced jobs, the poll and sweep intervals); a paused queue
// has a plan of its own; otherwise give back what waited too long, lock,
// sweep, re-check, and say when to look again if no round trip is needed.
Plan LockPlanner::Decide(const PoolView& view, absl::Time now) {
  Plan plan;
  if (now < retry_at_) {
    plan.wake_at = retry_at_;
    return plan;
  }
  // While a continuation is in flight its answer moves the cursor: what
  // came due meanwhile is placed against that (TimePassed()).
  if (!continuing_) NoteTimePassed(now);
  if (paused_ || client_closed_) return DecidePaused(view, now);
  PlanReleases(view, now, plan);
  PlanLock(view, plan);
  if (sweep_.wanted && !sweep_.in_flight && !view.stopping) {
    sweep_.due = false;
    plan.sweep = true;
    plan.sweep_before = scan_.cursor;
    sweep_.in_flight = true;
    sweep_.wanted = false;
  }
  // Re-check the buffered jobs idle workers would start, when their last
  // check is too old for them to start.
  bool stale_for_idle = false;
  const int buffered = static_cast<int>(view.buffered.size());
  for (int i = 0; i < std::min(buffered, view.idle_workers); ++i) {
    if (!Fresh(view.buffered[i].checked_at, now)) stale_for_idle = true;
  }
  if (now >= round_trip_by_) {
    round_trip_by_ = absl::InfiniteFuture();
    plan.hand_due = true;
  }
  plan.round_trip = view.writes_pending || view.acks_pending || plan.lock > 0 ||
                    stale_for_idle || !plan.release.empty() || plan.hand_due ||
                    continuing_;
  if (plan.round_trip && !view.stopping) PlanConfirms(view, now, plan);
  if (!plan.round_trip) plan.wake_at = WakeAt(view);
  return plan;
}

void LockPlanner::NoteTimePassed(absl::Time now) {
  if (now >= due_.next_at) {
    // Due, by a sweep's answer or a reschedule of ours: scan for it now,
    // and sweep to learn which comes next as soon as the sweeps' budget
    // allows (a sweep can answer with a job inserted a moment after it
    // began, due at once: sweeping again at once would make them run back
    // to back while the queue is busy).
    may_have_work_ = true;
    sweep_.due = true;
    // From the job's own key: the scan may have passed it (it sorted
    // there while a worker of ours still held it).
    RewindTo(KeyAt(due_.next_priority.value_or(-32768),
                   std::min(due_.next_run_at, due_.next_at)));
    due_.next_at = absl::InfiniteFuture();
    due_.next_run_at = absl::InfiniteFuture();
    due_.next_priority.reset();
  }
  while (!due_.announced.empty() && due_.announced.begin()->first <= now) {
    // An announced future job is due: scan for it.
    may_have_work_ = true;
    const auto& [at, priority] = *due_.announced.begin();
    RewindTo(KeyAt(priority, at - absl::Milliseconds(2) - round_trip_));
    due_.announced.erase(due_.announced.begin());
    if (due_.announced.empty() && due_.announced_overflow) {
      sweep_.due = true;  // more were announced than remembered
      due_.announced_overflow = false;
    }
  }
  if (now >= limit_retry_at_) {  // held back by limits: look again
    limit_retry_at_ = absl::InfiniteFuture();
    LimitFreed();
  }

  if (now - last_lock_ >= options_.poll_interval) may_have_work_ = true;
  // Jobs nobody holds behind the cursor, jobs another worker rescheduled:
  // nothing announces them. Sweep now and then (less often when the walk
  // from the head is slow).
  if (!sweep_.in_flight && now - sweep_.last >= SweepInterval()) {
    sweep_.wanted = true;
  }
  if (sweep_.due && !sweep_.in_flight &&
      now - sweep_.last >= DueSweepSpacing()) {
    sweep_.wanted = true;
  }
}

Plan LockPlanner::DecidePaused(const PoolView& view, absl::Time now) {
  // Paused: nothing new; what waits in the buffer goes back; a lock scan
  // once a second notices a resume that no NOTIFY announced (a closed
  // client never resumes).
  Plan plan;
  absl::Duration probe = std::min(options_.poll_interval, absl::Seconds(1));
  if (!view.stopping && !client_closed_ && !continuing_ &&
      now - last_lock_ >= probe) {
    plan.lock = 1;
    plan.max_scan = 1;
    plan.after = scan_.cursor;
  }
  if (!view.stopping) {
    for (const BufferedJob& b : view.buffered) plan.release.push_back(b.key);
    for (const BufferedJob& b : view.waiting_slot) {
      plan.release.push_back(b.key);
    }
  }
  // A round trip the pool asked for (slots it parked, the hand-off lock it
  // holds) is due all the same: a closed client scans no more, and nothing
  // else would let go of them before its Shutdown().
  if (now >= round_trip_by_) {
    round_trip_by_ = absl::InfiniteFuture();
    plan.hand_due = true;
  }
  plan.round_trip = view.writes_pending || view.acks_pending || plan.lock > 0 ||
                    !plan.release.empty() || plan.hand_due || continuing_;
  if (!plan.round_trip) {
    plan.wake_at = view.stopping || client_closed_ ? absl::InfiniteFuture()
                                                   : last_lock_ + probe;
    plan.wake_at = std::min(plan.wake_at, round_trip_by_);
  }
  return plan;
}

void LockPlanner::PlanReleases(const PoolView& view, absl::Time now,
                               Plan& plan) {
  // Buffered jobs nobody took in time go back to the queue for others;
  // not those an idle worker is about to start (the most urgent).
  if (view.stopping) return;
  for (int i = view.idle_workers; i < static_cast<int>(view.buffered.size());
       ++i) {
    const BufferedJob& b = view.buffered[i];
    if (now - b.locked_at > options_.max_buffer_wait) {
      plan.release.push_back(b.key);
    }
  }
  const bool slow = !plan.release.empty();
  for (const BufferedJob& b : view.waiting_slot) {
    if (b.no_slot_coming || now - b.locked_at > options_.max_buffer_wait) {
      plan.release.push_back(b.key);
    }
  }
  if (slow) lookahead_off_ = true;
}

void LockPlanner::PlanLock(const PoolView& view, Plan& plan) {
  // A continuation in flight is the scan (its answer moves the cursor).
  if (view.stopping || continuing_) return;
  const int buffer = BufferTarget();
  const int free = options_.workers + buffer - view.held;
  const int buffered = static_cast<int>(view.buffered.size());
  // Nothing is locked while a job given back still has its lock: the scan
  // goes back for it first once it is released (Released()).
  if (view.releasing > 0 || !plan.release.empty()) return;
  if (may_have_work_ && free > 0) {
    // In batches: when the workers are about to run dry, or once at least
    // half the buffer has room; only for idle workers while the jobs are
    // slower than the buffer assumed.
    // A round trip that goes anyway (finished jobs to write) locks once a
    // quarter of the buffer has room: the buffer drains while it is in
    // flight, and a lock waiting for it to come back found the workers
    // idle.
    if (lookahead_off_) {
      plan.lock = std::min(free, std::max(0, view.idle_workers - buffered));
    } else if (buffered < options_.workers || free >= std::max(1, buffer / 2) ||
               (view.writes_pending && free >= std::max(1, buffer / 4))) {
      plan.lock = std::min(free, options_.max_batch);
    }
  }
  if (notified_best_ && buffered > 0) {
    const JobKey& worst = view.buffered.back().key;
    if (*notified_best_ <
        std::pair<int16_t, absl::Time>{worst.priority, worst.run_at}) {
      // Something more urgent than what waits in the buffer: look for it
      // now (the NOTIFY rewound the scan if it sorts before the cursor);
      // what no longer fits is released after.
      plan.lock = std::max(plan.lock, std::min(buffered, options_.workers));
    }
  }
  if (plan.lock == 0) return;
  plan.max_scan = MaxScan(plan.lock);
  PlanProbes(plan);
  if (scan_.from_head) {
    // The sweep failed: the whole queue from the head, held jobs skipped.
    scan_.from_head = false;
    scan_.from_head_in_flight = true;
    scan_.rewind_in_flight = scan_.rewind;
    scan_.rewind.reset();
    return;
  }
  plan.after = scan_.cursor;
  plan.rewind = scan_.rewind;
  scan_.rewind_in_flight = scan_.rewind;
  scan_.rewind.reset();
}

void LockPlanner::PlanConfirms(const PoolView& view, absl::Time now,
                               Plan& plan) const {
  // Those idle workers would start, and, riding a round trip that runs
  // anyway, those getting old.
  const int confirm_up_to =
      std::min(static_cast<int>(view.buffered.size()), options_.max_batch);
  for (int i = 0; i < confirm_up_to; ++i) {
    if (now - view.buffered[i].checked_at > options_.recheck_after / 2 &&
        (i < view.idle_workers ||
         now - view.buffered[i].locked_at <= options_.max_buffer_wait)) {
      plan.confirm.push_back(view.buffered[i].key);
    }
  }
  // And those about to be handed a flow-control slot, so that a hand-off
  // starts its job at once instead of waiting for a re-check.
  for (const BufferedJob& b : view.waiting_slot) {
    if (static_cast<int>(plan.confirm.size()) >= options_.max_batch) break;
    if (!b.no_slot_coming && now - b.checked_at > options_.recheck_after / 2 &&
        now - b.locked_at <= options_.max_buffer_wait) {
      plan.confirm.push_back(b.key);
    }
  }
}

absl::Time LockPlanner::WakeAt(const PoolView& view) const {
  if (view.stopping) return absl::InfiniteFuture();
  absl::Time at = std::min(due_.next_at, last_lock_ + options_.poll_interval);
  at = std::min(at, limit_retry_at_);
  at = std::min(at, round_trip_by_);
  if (!sweep_.in_flight) {
    at = std::min(at, sweep_.last + SweepInterval());
    if (sweep_.due) at = std::min(at, sweep_.last + DueSweepSpacing());
  }
  if (!due_.announced.empty()) at = std::min(at, due_.announced.begin()->first);
  for (const BufferedJob& b : view.buffered) {
    at = std::min(at, b.locked_at + options_.max_buffer_wait);
  }
  at = std::min(at, view.waiting_slot_oldest + options_.max_buffer_wait);
  for (const BufferedJob& b : view.waiting_slot) {
    at = std::min(at, b.locked_at + options_.max_buffer_wait);
  }
  return at;
}

}  // namespace qg::internal
