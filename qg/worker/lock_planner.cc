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

int LockPlanner::BufferTarget() const {
  if (options_.buffer >= 0) return options_.buffer;
  if (run_time_ == absl::ZeroDuration() ||
      round_trip_ == absl::ZeroDuration()) {
    return options_.workers;  // nothing observed yet: one each
  }
  // The jobs the workers run in two round trips.
  double per_round_trip =
      options_.workers *
      absl::FDivDuration(round_trip_,
                         std::max(run_time_, absl::Microseconds(5)));
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
  if (!cursor_) return;  // the scan starts at the head anyway
  // PostgreSQL keeps microseconds: a key between two of them would be
  // rounded down on the way there, and the scan would start earlier than
  // the pool's list of held jobs assumes.
  JobKey k = key;
  if (k.run_at != absl::InfinitePast() && k.run_at != absl::InfiniteFuture()) {
    k.run_at = absl::UnixEpoch() +
               absl::Floor(k.run_at - absl::UnixEpoch(), absl::Microseconds(1));
  }
  k.run_at_text.clear();
  if (!(k < *cursor_)) return;
  if (!rewind_ || k < *rewind_) rewind_ = std::move(k);
}

absl::Duration LockPlanner::DueSweepSpacing() const {
  return std::min(50 * sweep_cost_, absl::Minutes(1));
}

absl::Duration LockPlanner::SweepInterval() const {
  return std::clamp(50 * sweep_cost_, options_.poll_interval,
                    std::max(options_.poll_interval, absl::Minutes(1)));
}

void LockPlanner::SessionOpened(absl::Time now) {
  may_have_work_ = true;
  need_sweep_ = true;
  due_sweep_ = false;
  next_due_at_ = absl::InfiniteFuture();
  next_due_run_at_ = absl::InfiniteFuture();
  next_due_priority_.reset();
  announced_.clear();
  announced_overflow_ = false;
  notified_best_.reset();
  cursor_.reset();
  rewind_.reset();
  rewind_in_flight_.reset();
  from_head_ = false;
  from_head_in_flight_ = false;
  sweep_in_flight_ = false;
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
    announced_.insert({run_at + slack, p});
    if (announced_.size() > kMaxAnnounced) {
      announced_.erase(std::prev(announced_.end()));
      announced_overflow_ = true;
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
  if (last) cursor_ = last;
  if (rewind_stopped) RewindTo(*rewind_stopped);
  rewind_in_flight_.reset();
  from_head_in_flight_ = false;
  // More may wait unless the scan reached the end of the runnable jobs; a
  // scan that stopped at max_scan (others hold the candidates) continues
  // from its cursor next time.
  may_have_work_ = !exhausted;
  (void)asked;
  (void)locked;
  (void)scanned;
}

void LockPlanner::Swept(const std::vector<JobKey>& free,
                        std::optional<absl::Duration> due_in,
                        std::optional<int16_t> priority, absl::Time at,
                        absl::Duration took) {
  sweep_in_flight_ = false;
  last_sweep_ = at;
  sweep_cost_ = took;
  if (!free.empty()) {
    // Jobs nobody holds behind the cursor: go back for them.
    may_have_work_ = true;
    const JobKey& first = *std::min_element(free.begin(), free.end());
    JobKey before = first;
    before.id = first.id == std::numeric_limits<int64_t>::min() ? first.id
                                                                : first.id - 1;
    RewindTo(before);
  }
  if (due_in.has_value() && at + *due_in < next_due_at_) {
    next_due_at_ = at + *due_in;
    next_due_run_at_ = next_due_at_;
    next_due_priority_ = priority;
  }
}

void LockPlanner::SweepFailed(absl::Time at, absl::Duration took) {
  sweep_in_flight_ = false;
  last_sweep_ = at;
  sweep_cost_ = std::max(took, options_.poll_interval);
  // What the sweep would have found (jobs let go behind the cursor, jobs
  // rescheduled there) is found by scanning from the head instead.
  from_head_ = true;
  may_have_work_ = true;
}

void LockPlanner::Rescheduled(int16_t priority, absl::Time due) {
  // A little after it: its write goes out in a later round trip.
  absl::Time at = due + absl::Milliseconds(50) + round_trip_;
  if (at < next_due_at_) {
    next_due_at_ = at;
    next_due_run_at_ = due;
    next_due_priority_ = priority;
  }
}

void LockPlanner::Released(const std::vector<JobKey>& keys) {
  for (const JobKey& k : keys) {
    JobKey before = k;
    before.id = k.id == std::numeric_limits<int64_t>::min() ? k.id : k.id - 1;
    RewindTo(before);
  }
}

void LockPlanner::Paused(bool paused) {
  if (paused_ && !paused) may_have_work_ = true;
  paused_ = paused;
}

void LockPlanner::RoundTrip(absl::Duration took) {
  round_trip_ = Average(round_trip_, took);
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
  if (rewind_in_flight_) RewindTo(*rewind_in_flight_);
  rewind_in_flight_.reset();
  if (from_head_in_flight_) from_head_ = true;
  from_head_in_flight_ = false;
}

void LockPlanner::Succeeded() { retry_delay_ = absl::ZeroDuration(); }

Plan LockPlanner::Decide(const PoolView& view, absl::Time now) {
  Plan plan;
  if (now < retry_at_) {
    plan.wake_at = retry_at_;
    return plan;
  }
  if (now >= next_due_at_) {
    // Due, by a sweep's answer or a reschedule of ours: scan for it now,
    // and sweep to learn which comes next as soon as the sweeps' budget
    // allows (a sweep can answer with a job inserted a moment after it
    // began, due at once: sweeping again at once would make them run back
    // to back while the queue is busy).
    may_have_work_ = true;
    due_sweep_ = true;
    // From the job's own key: the scan may have passed it (it sorted
    // there while a worker of ours still held it).
    RewindTo(KeyAt(next_due_priority_.value_or(-32768),
                   std::min(next_due_run_at_, next_due_at_)));
    next_due_at_ = absl::InfiniteFuture();
    next_due_run_at_ = absl::InfiniteFuture();
    next_due_priority_.reset();
  }
  while (!announced_.empty() && announced_.begin()->first <= now) {
    // An announced future job is due: scan for it.
    may_have_work_ = true;
    const auto& [at, priority] = *announced_.begin();
    RewindTo(KeyAt(priority, at - absl::Milliseconds(2) - round_trip_));
    announced_.erase(announced_.begin());
    if (announced_.empty() && announced_overflow_) {
      due_sweep_ = true;  // more were announced than remembered
      announced_overflow_ = false;
    }
  }
  if (now - last_lock_ >= options_.poll_interval) may_have_work_ = true;
  // Jobs nobody holds behind the cursor, jobs another worker rescheduled:
  // nothing announces them. Sweep now and then (less often when the walk
  // from the head is slow).
  if (!sweep_in_flight_ && now - last_sweep_ >= SweepInterval()) {
    need_sweep_ = true;
  }
  if (due_sweep_ && !sweep_in_flight_ &&
      now - last_sweep_ >= DueSweepSpacing()) {
    need_sweep_ = true;
  }

  const int buffer = BufferTarget();
  const int capacity = options_.workers + buffer;
  const int free = capacity - view.held;
  const int buffered = static_cast<int>(view.buffered.size());
  if (paused_ || client_closed_) {
    // Paused: nothing new; what waits in the buffer goes back; a lock scan
    // once a second notices a resume that no NOTIFY announced (a closed
    // client never resumes).
    absl::Duration probe = std::min(options_.poll_interval, absl::Seconds(1));
    if (!view.stopping && !client_closed_ && now - last_lock_ >= probe) {
      plan.lock = 1;
      plan.max_scan = 1;
      plan.after = cursor_;
    }
    if (!view.stopping) {
      for (const BufferedJob& b : view.buffered) plan.release.push_back(b.key);
    }
    plan.round_trip = view.writes_pending || view.acks_pending ||
                      plan.lock > 0 || !plan.release.empty();
    if (!plan.round_trip) {
      plan.wake_at = view.stopping || client_closed_ ? absl::InfiniteFuture()
                                                     : last_lock_ + probe;
    }
    return plan;
  }
  // Buffered jobs nobody took in time go back to the queue for others;
  // not those an idle worker is about to start (the most urgent).
  if (!view.stopping) {
    for (int i = view.idle_workers; i < buffered; ++i) {
      const BufferedJob& b = view.buffered[i];
      if (now - b.locked_at > options_.max_buffer_wait) {
        plan.release.push_back(b.key);
      }
    }
  }
  if (!plan.release.empty()) lookahead_off_ = true;
  // Nothing is locked while a job given back still has its lock: the scan
  // goes back for it first once it is released (Released()).
  const bool releasing = view.releasing > 0 || !plan.release.empty();
  if (!view.stopping && may_have_work_ && free > 0 && !releasing) {
    // In batches: when the workers are about to run dry, or once at least
    // half the buffer has room; only for idle workers while the jobs are
    // slower than the buffer assumed.
    if (lookahead_off_) {
      plan.lock = std::min(free, std::max(0, view.idle_workers - buffered));
    } else if (buffered < options_.workers || free >= std::max(1, buffer / 2)) {
      plan.lock = std::min(free, options_.max_batch);
    }
  }
  if (!view.stopping && !releasing && notified_best_ && buffered > 0) {
    const JobKey& worst = view.buffered.back().key;
    if (*notified_best_ <
        std::pair<int16_t, absl::Time>{worst.priority, worst.run_at}) {
      // Something more urgent than what waits in the buffer: look for it
      // now (the NOTIFY rewound the scan if it sorts before the cursor);
      // what no longer fits is released after.
      plan.lock = std::max(plan.lock, std::min(buffered, options_.workers));
    }
  }
  if (plan.lock > 0 && from_head_) {
    // The sweep failed: the whole queue from the head, held jobs skipped.
    from_head_ = false;
    from_head_in_flight_ = true;
    rewind_in_flight_ = rewind_;
    rewind_.reset();
    plan.max_scan = std::min(4 * plan.lock + 100, 10000);
  } else if (plan.lock > 0) {
    plan.after = cursor_;
    plan.rewind = rewind_;
    rewind_in_flight_ = rewind_;
    rewind_.reset();
    plan.max_scan = std::min(4 * plan.lock + 100, 10000);
  }

  // Re-check the buffered jobs idle workers would start, when their last
  // check is too old for them to start; and, riding a round trip that runs
  // anyway, those getting old.
  bool stale_for_idle = false;
  for (int i = 0; i < std::min(buffered, view.idle_workers); ++i) {
    if (!Fresh(view.buffered[i].checked_at, now)) stale_for_idle = true;
  }
  if (need_sweep_ && !sweep_in_flight_ && !view.stopping) {
    due_sweep_ = false;
    plan.sweep = true;
    plan.sweep_before = cursor_;
    sweep_in_flight_ = true;
    need_sweep_ = false;
  }
  plan.round_trip = view.writes_pending || view.acks_pending || plan.lock > 0 ||
                    stale_for_idle || !plan.release.empty();
  if (plan.round_trip && !view.stopping) {
    const int confirm_up_to = std::min(buffered, options_.max_batch);
    for (int i = 0; i < confirm_up_to; ++i) {
      if (now - view.buffered[i].checked_at > options_.recheck_after / 2 &&
          (i < view.idle_workers ||
           now - view.buffered[i].locked_at <= options_.max_buffer_wait)) {
        plan.confirm.push_back(view.buffered[i].key);
      }
    }
  }
  if (!plan.round_trip) {
    plan.wake_at = std::min(next_due_at_, last_lock_ + options_.poll_interval);
    if (!sweep_in_flight_ && !plan.sweep) {
      plan.wake_at = std::min(plan.wake_at, last_sweep_ + SweepInterval());
      if (due_sweep_) {
        plan.wake_at = std::min(plan.wake_at, last_sweep_ + DueSweepSpacing());
      }
    }
    if (!announced_.empty()) {
      plan.wake_at = std::min(plan.wake_at, announced_.begin()->first);
    }
    if (!view.buffered.empty()) {
      absl::Time oldest = view.buffered.front().locked_at;
      for (const BufferedJob& b : view.buffered) {
        oldest = std::min(oldest, b.locked_at);
      }
      plan.wake_at = std::min(plan.wake_at, oldest + options_.max_buffer_wait);
    }
    if (view.stopping) plan.wake_at = absl::InfiniteFuture();
  }
  return plan;
}

}  // namespace qg::internal
