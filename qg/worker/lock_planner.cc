#include "qg/worker/lock_planner.h"

#include <algorithm>

namespace qg::internal {

LockPlanner::LockPlanner(PlannerOptions options) : options_(options) {}

void LockPlanner::SessionOpened(absl::Time now) {
  may_have_work_ = true;
  need_next_due_ = true;
  contended_ = false;
  next_due_at_ = absl::InfiniteFuture();
  notified_best_.reset();
  (void)now;
}

void LockPlanner::Notified(absl::Time run_at, std::optional<int16_t> priority,
                           absl::Time now) {
  if (run_at > now) {
    next_due_at_ = std::min(next_due_at_, run_at);
    return;
  }
  may_have_work_ = true;
  if (priority.has_value()) {
    std::pair<int16_t, absl::Time> key{*priority, run_at};
    if (!notified_best_ || key < *notified_best_) notified_best_ = key;
  } else {
    // An older trigger: urgency unknown, so assume the most urgent.
    notified_best_ = std::pair<int16_t, absl::Time>{-32768, run_at};
  }
}

void LockPlanner::Locked(int asked, int candidates, int locked,
                         absl::Time now) {
  last_lock_ = now;
  notified_best_.reset();
  // A full batch of candidates means there may be more.
  may_have_work_ = candidates >= asked;
  contended_ = locked < candidates;
  if (candidates < asked) need_next_due_ = true;
}

void LockPlanner::NextDue(std::optional<absl::Duration> due_in, absl::Time at) {
  need_next_due_ = false;
  if (due_in.has_value()) {
    next_due_at_ = std::min(next_due_at_, at + *due_in);
  }
}

void LockPlanner::Failed(absl::Time now) {
  retry_delay_ =
      std::clamp(retry_delay_ * 2, options_.retry_min, options_.retry_max);
  retry_at_ = now + retry_delay_;
  may_have_work_ = true;
}

void LockPlanner::Succeeded() { retry_delay_ = absl::ZeroDuration(); }

Plan LockPlanner::Decide(const PoolView& view, absl::Time now) {
  Plan plan;
  if (now < retry_at_) {
    plan.wake_at = retry_at_;
    return plan;
  }
  if (now >= next_due_at_) {
    may_have_work_ = true;
    need_next_due_ = true;
    next_due_at_ = absl::InfiniteFuture();
  }
  if (now - last_lock_ >= options_.poll_interval) may_have_work_ = true;

  const int capacity = options_.workers + options_.buffer;
  const int free = capacity - view.held;
  const int buffered = static_cast<int>(view.buffered.size());
  if (!view.stopping && may_have_work_ && free > 0) {
    // In batches: when the workers are about to run dry, or once at least
    // half the buffer has room.
    if (buffered < options_.workers ||
        free >= std::max(1, options_.buffer / 2)) {
      plan.lock = free;
    }
  }
  if (!view.stopping && notified_best_ && buffered > 0) {
    const JobKey& worst = view.buffered.back().key;
    if (*notified_best_ <
        std::pair<int16_t, absl::Time>{worst.priority, worst.run_at}) {
      // Something more urgent than what waits in the buffer: look for it
      // now; what no longer fits is released after.
      plan.lock = std::max(plan.lock, std::min(buffered, options_.workers));
    }
  }
  if (plan.lock > 0) plan.walk = contended_;

  // Re-check the buffered jobs idle workers would start, when their last
  // check is too old for them to start; and, riding a round trip that runs
  // anyway, those getting old.
  const int next_up = std::min(buffered, std::max(view.idle_workers, 1));
  bool stale_for_idle = false;
  for (int i = 0; i < next_up; ++i) {
    if (i < view.idle_workers && !Fresh(view.buffered[i].checked_at, now)) {
      stale_for_idle = true;
    }
  }
  plan.next_due = need_next_due_ && !view.stopping;
  plan.round_trip =
      view.writes_pending || plan.lock > 0 || plan.next_due || stale_for_idle;
  if (plan.round_trip && !view.stopping) {
    const int confirm_up_to =
        std::min(buffered, std::max(view.idle_workers, options_.workers));
    for (int i = 0; i < confirm_up_to; ++i) {
      if (now - view.buffered[i].checked_at > options_.recheck_after / 2) {
        plan.confirm.push_back(view.buffered[i].key);
      }
    }
  }
  if (!plan.round_trip) {
    plan.wake_at = std::min(next_due_at_, last_lock_ + options_.poll_interval);
    if (view.stopping) plan.wake_at = absl::InfiniteFuture();
  }
  return plan;
}

}  // namespace qg::internal
