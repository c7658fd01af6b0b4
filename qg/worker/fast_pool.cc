#include "qg/worker/fast_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <random>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "qg/internal/sync.h"
#include "qg/worker/watchdog.h"

namespace qg::internal {

// BatchedLease
//
// The lease of a fast-path job: the pool's locker session holds the lock; the
// job's connection is a pooled one taken on first use; the outcome goes to
// the pool, which writes it in a batch and then releases the lock.
class BatchedLease : public JobLease {
 public:
  BatchedLease(FastPool* pool, uint64_t generation,
               std::shared_ptr<ConnPool> conns, absl::Duration acquire_timeout,
               Logger* logger, JobCounter* counter)
      : pool_(pool),
        generation_(generation),
        conns_(std::move(conns)),
        acquire_timeout_(acquire_timeout),
        logger_(logger),
        counter_(counter) {}

  PGconn* Conn() override {
    if (!conn_) {
      absl::StatusOr<PooledConn> c = conns_->Acquire(acquire_timeout_);
      if (!c.ok()) {
        logger_->Log(LogLevel::kError,
                     absl::StrCat("qg: no connection for a job: ",
                                  c.status().ToString()));
        return nullptr;
      }
      conn_ = std::move(*c);
    }
    return conn_.get();
  }

  bool BatchesWrites() const override { return true; }

  void End(const JobRow& row, Outcome outcome) override {
    conn_.Release();
    if (abandoned_) return;
    if (counter_ != nullptr)
      counter_->Add(row.key.queue, row.type, outcome.end);
    pool_->Finish({row.key, generation_, std::move(outcome)});
  }

  // The lock is not the job's any more (released already, or gone with its
  // session): ending the job must not report it. Only for jobs that never
  // started.
  void Abandon() { abandoned_ = true; }

 private:
  FastPool* pool_;
  const uint64_t generation_;
  std::shared_ptr<ConnPool> conns_;
  const absl::Duration acquire_timeout_;
  Logger* logger_;
  JobCounter* counter_;
  PooledConn conn_;
  bool abandoned_ = false;
};

namespace {

// PoolObserver::RoundTrip::lane of the next FastPool.
int64_t NextLaneId() {
  static std::atomic<int64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// A pool's id for per-pool limits (qg_limits.per_pool): random, positive
// (0 is the global limits' scope).
int64_t NewPoolScope() {
  std::random_device device;
  std::mt19937_64 gen((static_cast<uint64_t>(device()) << 32) ^ device());
  std::uniform_int_distribution<int64_t> dist(
      1, std::numeric_limits<int64_t>::max());
  return dist(gen);
}

// Whether the locker session's socket `fd` is quiet: open, not hung up (a
// restart), and without the server's last words among its unread bytes. A
// terminated backend sends its FATAL (an ErrorResponse whose V field is
// FATAL or PANIC) before it releases its locks and closes the socket only
// after, so a buffered job waits until the locker has read such bytes and
// ended the session. Other unread bytes (answers, NOTIFYs) do not hold a
// job back; when the traffic is `encrypted`, any unread byte does. More
// than the few hundred bytes a FATAL and some NOTIFYs take is a long answer
// the locker is reading: a FATAL behind it fails that round trip, and ends
// the session, as soon as it is read. Reads nothing.
bool SessionQuiet(int fd, bool encrypted) {
  if (fd < 0) return false;
  struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) == 0) return true;
  if (encrypted || (p.revents & ~POLLIN) != 0) return false;
  char unread[512];
  const ssize_t n = recv(fd, unread, sizeof(unread), MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  if (n == 0) return false;  // the server closed it
  if (n == static_cast<ssize_t>(sizeof(unread))) return true;
  const absl::string_view bytes(unread, static_cast<size_t>(n));
  constexpr absl::string_view kFatal("VFATAL\0", 7);
  constexpr absl::string_view kPanic("VPANIC\0", 7);
  return !absl::StrContains(bytes, kFatal) && !absl::StrContains(bytes, kPanic);
}

std::string Ids(const std::vector<int64_t>& ids) {
  constexpr size_t kShown = 20;
  std::string out = absl::StrJoin(
      ids.begin(), ids.begin() + std::min(ids.size(), kShown), ",");
  if (ids.size() > kShown) absl::StrAppend(&out, ",...");
  return out;
}

}  // namespace

FastPool::FastPool(Client* client, const WorkMap* work_map,
                   FastPoolOptions options, Watchdog* watchdog,
                   std::atomic<bool>* said_closed)
    : client_(client),
      work_map_(work_map),
      options_(std::move(options)),
      lane_id_(NextLaneId()),
      clock_(client->clock()),
      logger_(&client->logger()),
      watchdog_(watchdog),
      said_closed_(said_closed != nullptr ? said_closed : &own_said_closed_),
      planner_(options_.planner),
      scope_(NewPoolScope()) {}

bool FastPool::OnItsThread() const { return ThreadRole::Active(this); }

FastPool::~FastPool() { Shutdown(); }

void FastPool::Log(LogLevel level, const std::string& message) {
  logger_->Log(level, message);
}

absl::Status FastPool::Start() {
  {
    MutexLock lock(mu_);
    if (started_) return absl::OkStatus();
  }
  if (absl::Status s = wake_.status(); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<LockerSession>> session = LockerSession::Open(
      client_->options().conninfo, options_.round_trip_timeout, clock_);
  if (!session.ok()) return session.status();
  AdoptSession(std::move(*session), clock_.Now());
  {
    MutexLock lock(mu_);
    started_ = true;
    generation_ = 1;
    SetPeekFd(session_->socket());
    session_encrypted_ = session_->encrypted();
    session_watch_ = session_->watch();
  }
  absl::StatusOr<std::thread> locker = StartThread([this] {
    ThreadRole role(this);  // observers may call Shutdown()
    LockerLoop();
  });
  if (!locker.ok()) {
    MutexLock lock(mu_);
    started_ = false;
    SetPeekFd(-1);
    session_.reset();
    return locker.status();
  }
  locker_thread_ = std::move(*locker);
  for (int i = 0; i < options_.planner.workers; ++i) {
    {
      MutexLock lock(mu_);
      ++workers_running_;  // before it runs: the locker waits for it
    }
    absl::StatusOr<std::thread> worker = StartThread([this] {
      ThreadRole role(this);  // handlers may call Shutdown()
      WorkerLoop();
    });
    if (!worker.ok()) {
      {
        MutexLock lock(mu_);
        --workers_running_;
      }
      Shutdown();  // what did start stops, and its session closes
      return worker.status();
    }
    worker_threads_.push_back(std::move(*worker));
  }
  return absl::OkStatus();
}

void FastPool::RequestStop() {
  {
    MutexLock lock(mu_);
    if (!started_) return;
    stopping_ = true;
    wake_.Wake();  // under the lock, as in Finish()
  }
  work_cv_.SignalAll();
}

void FastPool::Shutdown(absl::Time deadline) {
  RequestStop();
  if (OnItsThread()) return;  // it cannot join itself
  {
    MutexLock lock(mu_);
    if (!started_) return;
  }
  {
    MutexLock lock(mu_);
    if (!idle_cv_.WaitUntil(lock, deadline, [this] {
          mu_.AssertHeld();
          return workers_running_ == 0;
        })) {
      watchdog_->CancelAll();
    }
  }
  for (std::thread& t : worker_threads_) {
    if (t.joinable()) t.join();
  }
  worker_threads_.clear();
  if (locker_thread_.joinable()) locker_thread_.join();
  {
    MutexLock lock(mu_);
    SetPeekFd(-1);
  }
  session_.reset();
}

void FastPool::SetPeekFd(int fd) {
  if (session_fd_ >= 0) close(session_fd_);
  // A descriptor of its own for the same socket: libpq closes its own in
  // the locker thread when the connection fails, without this mutex, and
  // the number could be reused at once; this one is closed only here,
  // under the mutex the workers peek under. (It is closed before the
  // session is finished, so the server sees the connection end then.)
  session_fd_ = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
}

void FastPool::Finish(Completion completion) {
  {
    MutexLock lock(mu_);
    const bool ran = running_.erase(completion.key.id) > 0;
    running_jobs_.erase(completion.key.id);
    // Its slot to a job waiting for one: it starts without a round trip on
    // the worker this job leaves. (A job given back unstarted frees its
    // slot instead: no worker of ours may be free for it.)
    if (HandOnSlot(completion.key.id, ran)) {
      work_cv_.Signal();
    } else {
      hand_slots_.erase(completion.key.id);
    }
    finished_.push_back(std::move(completion));
    // Under the lock the locker takes `finished_` with: a wake-up skipped
    // because one is pending (WakeSource) is then one whose push the locker
    // sees.
    wake_.Wake();
  }
}

bool FastPool::HandOnSlot(int64_t id, bool ran) {
  if (!ran) return false;
  auto it = hand_slots_.find(id);
  if (it == hand_slots_.end()) return false;
  const HandSlot slot = it->second;
  hand_slots_.erase(it);
  if (!hand_ok_) return false;
  auto waiting = slotless_.find(slot.bucket);
  if (waiting == slotless_.end()) {
    if (stopping_ || !wait_buckets_.contains(slot.bucket)) return false;
    parked_[slot.bucket].push_back({slot.lock, clock_.Now()});
    hand_offs_.push_back({id, kParked, slot.lock});
    return false;
  }
  const JobKey to = *waiting->second.begin();
  waiting->second.erase(waiting->second.begin());
  if (waiting->second.empty()) slotless_.erase(waiting);
  auto r = ready_.find(to);
  if (r == ready_.end()) return false;
  r->second.slotless = false;
  hand_slots_[to.id] = slot;
  hand_offs_.push_back({id, to.id, slot.lock});
  return true;
}

bool FastPool::UnparkSlots(absl::Time before) {
  const size_t had = hand_offs_.size();
  for (auto it = parked_.begin(); it != parked_.end();) {
    std::vector<ParkedSlot>& slots = it->second;
    std::vector<ParkedSlot> kept;
    for (const ParkedSlot& p : slots) {
      if (p.since >= before) {
        kept.push_back(p);
      } else {
        hand_offs_.push_back({kParked, kReleased, p.lock});
      }
    }
    slots.swap(kept);
    if (slots.empty()) {
      parked_.erase(it++);
    } else {
      ++it;
    }
  }
  return hand_offs_.size() != had;
}

void FastPool::WorkerLoop() {
  MutexLock lock(mu_);
  while (!stopping_) {
    // The first buffered job that may start (one locked without a slot
    // waits for a hand-off).
    auto first = ready_.begin();
    while (first != ready_.end() && first->second.slotless) ++first;
    if (first != ready_.end()) {
      Buffered& head = first->second;
      const bool fresh = !head.confirming && clock_.Now() - head.checked_at <=
                                                 options_.planner.recheck_after;
      // The server's last words already read by the locker, or still
      // unread on the socket: the session's locks are going.
      // The locker's reads are counted (ReadWatch): an odd count, or one
      // that moved during the peek, means bytes the peek did not see may be
      // in the locker's hands unparsed, the server's last words perhaps.
      const ReadWatch* watch = session_watch_.get();
      const uint64_t reads = watch != nullptr ? watch->reads.load() : 1;
      const bool quiet =
          fresh && reads % 2 == 0 && !watch->ending.load() &&
          SessionQuiet(session_fd_, session_encrypted_ || session_ahead_) &&
          watch->reads.load() == reads;
      // Unread input, or bytes the locker took and has not parsed yet: the
      // locker wakes this worker once it has parsed them (unless the count
      // moved since the peek: look again).
      if (fresh && !quiet) {
        input_waiters_ = true;
        if (watch != nullptr) {
          watch->waiters.store(true);
          if (watch->reads.load() != reads) continue;
        }
      }
      if (quiet) {
        std::unique_ptr<Job> job = std::move(head.job);
        // The key moves from the buffer to the running jobs (its run_at
        // text is a heap string: no copy per job start).
        {
          auto node = ready_.extract(first);
          running_.emplace(job->id(), std::move(node.key()));
        }
        running_jobs_.emplace(job->id(), job.get());
        lock.Unlock();
        absl::Time start = clock_.Now();
        PerformJob(*job, *work_map_, *logger_, watchdog_).IgnoreError();
        absl::Time finished = clock_.Now();
        absl::Duration took = finished - start;
        if (options_.observer != nullptr) {
          options_.observer->OnJobDone({job->queue(), job->type(), job->end(),
                                        job->run_at(), start, finished});
        }
        job.reset();
        lock.Lock();
        run_time_sum_ += took;
        ++run_time_count_;
        continue;
      }
    }
    // Nothing startable: the locker locks more, or re-checks the head.
    ++idle_workers_;
    wake_.Wake();
    work_cv_.Wait(lock);
    --idle_workers_;
  }
  --workers_running_;
  idle_cv_.SignalAll();
  wake_.Wake();
}

std::vector<std::unique_ptr<Job>> FastPool::TakeBuffered(
    const std::vector<int64_t>& ids, bool lock_released) {
  absl::flat_hash_set<int64_t> wanted(ids.begin(), ids.end());
  std::vector<std::unique_ptr<Job>> out;
  for (auto it = ready_.begin(); it != ready_.end();) {
    if (!wanted.contains(it->first.id)) {
      ++it;
      continue;
    }
    if (lock_released) {
      it->second.lease->Abandon();
      held_.erase(it->first.id);
      // The slot it took in its scan goes with its lock (the locker finds
      // it in limit_locks_); one handed to it since the locker last took
      // hand-offs in is not there yet: let go of it after the hand-off.
      if (auto h = hand_slots_.find(it->first.id); h != hand_slots_.end()) {
        hand_offs_.push_back({it->first.id, kReleased, h->second.lock});
        hand_slots_.erase(h);
      }
    }
    if (it->second.slotless) {
      auto w = slotless_.find(it->second.wait_bucket);
      if (w != slotless_.end()) {
        w->second.erase(it->first);
        if (w->second.empty()) slotless_.erase(w);
      }
    }
    out.push_back(std::move(it->second.job));
    it = ready_.erase(it);
  }
  return out;
}

void FastPool::AdoptSession(std::unique_ptr<LockerSession> session,
                            absl::Time now) {
  session_ = std::move(session);
  // A worker that found the locker mid-read starts as soon as the read is
  // parsed (ReadWatch::waiters), not after the whole round trip.
  session_->SetReadWake([this] {
    MutexLock lock(mu_);
    work_cv_.SignalAll();
  });
  releasing_.clear();
  relocked_.clear();
  planner_.SessionOpened(now);
  // Its clock reading places the run_at of NOTIFYs before a sweep answers.
  db_offset_ = session_->clock_offset();
  planner_.ClockOffset(db_offset_);
}

bool FastPool::OpenSession() {
  absl::StatusOr<std::unique_ptr<LockerSession>> session = LockerSession::Open(
      client_->options().conninfo, options_.round_trip_timeout, clock_);
  absl::Time now = clock_.Now();
  if (!session.ok()) {
    reconnect_delay_ = std::clamp(reconnect_delay_ * 2, absl::Milliseconds(100),
                                  absl::Seconds(5));
    reconnect_at_ = now + reconnect_delay_;
    Log(LogLevel::kError,
        absl::StrCat("qg: locker connection: ", session.status().ToString(),
                     "; retrying in ", absl::FormatDuration(reconnect_delay_)));
    return false;
  }
  AdoptSession(std::move(*session), now);
  reconnect_delay_ = absl::ZeroDuration();
  {
    MutexLock lock(mu_);
    SetPeekFd(session_->socket());
    session_encrypted_ = session_->encrypted();
    session_watch_ = session_->watch();
  }
  Log(LogLevel::kInfo, "qg: locker session reconnected");
  return true;
}

void FastPool::LoseSession(const absl::Status& why) {
  std::vector<std::unique_ptr<Job>> dropped;
  {
    MutexLock lock(mu_);
    ++generation_;
    SetPeekFd(-1);
    session_ahead_ = false;
    session_watch_.reset();
    std::vector<int64_t> ids;
    for (const auto& [key, buffered] : ready_) ids.push_back(key.id);
    dropped = TakeBuffered(ids, /*lock_released=*/true);
    held_.clear();
    hand_slots_.clear();  // the slots went with the session
    slotless_.clear();
    hand_offs_.clear();
    parked_.clear();
    wait_buckets_.clear();
    hand_ok_ = false;
  }
  hand_held_ = false;  // and so did the hand-off lock
  hand_release_wanted_ = false;
  continuation_.reset();  // and the scan sent ahead
  // Notifications it deferred: pauses and resumes still count (cancels find
  // no job now; jobs announced are looked for from the head anyway).
  for (const ControlNotification& c : deferred_control_) OnControl(c);
  deferred_control_.clear();
  deferred_jobs_.clear();
  std::vector<int64_t> unfinished = batch_.DropAll();
  pending_acks_.clear();
  limit_locks_.clear();  // gone with the session, as every lock
  limit_unlocks_.clear();
  session_.reset();
  std::vector<int64_t> never_started;
  for (const auto& job : dropped) never_started.push_back(job->id());
  Log(LogLevel::kError,
      absl::StrCat("qg: locker session lost (", why.ToString(),
                   "); its locks are gone: ", never_started.size(),
                   " locked job(s) that had not started are left for any "
                   "worker (ids ",
                   Ids(never_started), "), ", unfinished.size(),
                   " finished job(s) not yet recorded will run again (ids ",
                   Ids(unfinished), ")"));
  dropped.clear();  // abandoned: destroying them reports nothing
  reconnect_at_ = clock_.Now() + reconnect_delay_;
}

void FastPool::AddLocked(std::vector<JobRow> rows, absl::Time checked_at) {
  std::vector<std::unique_ptr<Job>> extra;
  std::vector<JobKey> extra_keys;
  {
    MutexLock lock(mu_);
    for (JobRow& row : rows) {
      auto lease = std::make_unique<BatchedLease>(
          this, generation_, client_->conn_pool(),
          client_->options().acquire_timeout, logger_,
          client_->job_counter().get());
      BatchedLease* raw = lease.get();
      JobKey key = row.key;
      const int64_t id = key.id;
      held_.emplace(id, key);
      auto [it, added] = ready_.emplace(
          std::move(key),
          Buffered{std::make_unique<Job>(std::move(row), std::move(lease),
                                         client_->hooks()),
                   raw, checked_at, checked_at});
      if (auto w = arriving_wait_.find(id);
          added && w != arriving_wait_.end()) {
        wait_buckets_.insert(w->second);
        if (auto p = parked_.find(w->second); p != parked_.end() && hand_ok_) {
          // A slot a finished job left for it: it may start at once.
          const int64_t slot = p->second.front().lock;
          p->second.erase(p->second.begin());
          if (p->second.empty()) parked_.erase(p);
          hand_slots_[id] = {slot, w->second};
          hand_offs_.push_back({kParked, id, slot});
          continue;
        }
        it->second.slotless = true;
        it->second.wait_bucket = w->second;
        slotless_[w->second].insert(it->first);
      }
    }
    arriving_wait_.clear();
    // More than the pool may hold (a lock for more urgent jobs than the
    // buffered ones): release the least urgent.
    const size_t capacity = options_.planner.workers + planner_.BufferTarget();
    std::vector<int64_t> worst;
    auto it = ready_.end();
    while (ready_.size() - worst.size() + running_.size() > capacity &&
           it != ready_.begin()) {
      --it;
      worst.push_back(it->first.id);
      extra_keys.push_back(it->first);
    }
    extra = TakeBuffered(worst, /*lock_released=*/false);
  }
  // The scan goes back for them once their locks are released.
  for (const JobKey& key : extra_keys) releasing_.insert(key.id);
  extra.clear();  // each reports a release to Finish()
}

void FastPool::SweepFailed(const absl::Status& error, absl::Time sent_at,
                           absl::Duration took) {
  // The lock scans start from the head meanwhile: slower, never wrong. A
  // lasting cause (a missing grant) is said once a minute, not per sweep.
  planner_.SweepFailed(sent_at, took);
  const absl::Time now = clock_.Now();
  if (now - sweep_error_logged_ < absl::Minutes(1)) {
    ++sweep_errors_unlogged_;
    return;
  }
  std::string more = sweep_errors_unlogged_ > 0
                         ? absl::StrCat(" (and ", sweep_errors_unlogged_,
                                        " more failures in the last minute)")
                         : "";
  Log(LogLevel::kError,
      absl::StrCat("qg: sweeping queue \"", options_.queue,
                   "\": ", error.ToString(), more,
                   "; lock scans start from the head until a sweep works "
                   "(a worker role needs EXECUTE on qg_sweep)"));
  sweep_error_logged_ = now;
  sweep_errors_unlogged_ = 0;
}

void FastPool::OnSwept(const LockerSession::Sweep& sweep) {
  const absl::Duration took = sweep.received_at - sweep.sent_at;
  if (options_.observer != nullptr) {
    options_.observer->OnSweep(
        {took, static_cast<int>(sweep.free.size()), sweep.error.ok()});
  }
  if (!sweep.error.ok()) {
    SweepFailed(sweep.error, sweep.sent_at, took);
    return;
  }
  sweep_errors_unlogged_ = 0;
  sweep_error_logged_ = absl::InfinitePast();
  db_offset_ = sweep.clock_offset;
  planner_.ClockOffset(db_offset_);
  if (!sweep.free.empty()) {
    Log(LogLevel::kDebug,
        absl::StrCat("qg: sweep found ", sweep.free.size(),
                     " job(s) nobody holds behind the cursor"));
  }
  planner_.Swept(sweep.free, sweep.due_in, sweep.priority, sweep.sent_at, took);
}

// One round trip, River's fetch-and-dispatch shape in named steps: give back
// what waited too long, build the request (writes and unlocks of finished
// jobs, re-checks, the lock scan), run it, and apply the answer: cancel
// acknowledgements, written completions, the buffer's changes, the lock
// scan's result for the planner, the observer's report.
void FastPool::RunRoundTrip(const Plan& plan) {
  const absl::Time now = clock_.Now();
  ReleaseWaitedTooLong(plan.release);
  RoundTrip rt;
  rt.plan = &plan;
  rt.writes = batch_.Next();
  rt.relocked.swap(relocked_);
  rt.request = BuildRequest(plan, rt);
  absl::StatusOr<LockerSession::Response> r =
      session_->Run(rt.request, options_.round_trip_timeout + absl::Seconds(5));
  if (!r.ok()) {
    RoundTripFailed(r.status());
    return;
  }
  rt.response = std::move(*r);
  rt.sent_ahead = continuation_.has_value();
  if (rt.sent_ahead) {
    // The scan sent ahead answered in this round trip: it is its lock.
    rt.request.lock = std::move(*continuation_);
    continuation_.reset();
    planner_.ContinuationCollected();
    MutexLock lock(mu_);
    session_ahead_ = false;
  }
  if (rt.response.acked.ok()) {
    CancelAcked(*rt.response.acked);
  } else {
    Log(LogLevel::kError, absl::StrCat("qg: taking cancel requests: ",
                                       rt.response.acked.status().ToString()));
  }
  ApplyWrites(rt);
  LockScanned(rt, rt.sent_ahead ? rt.response.lock_sent_at : now);
  // Due times that passed while it was in flight, against the cursor it
  // moved (the planner leaves them alone meanwhile).
  if (rt.sent_ahead) planner_.TimePassed(clock_.Now());
  // Notifications read while the scan was in flight: jobs announced are
  // placed against the cursor it moved before the next scan may go on
  // from it (one that sorts behind it, or more urgent than the buffer,
  // asks for a scan of its own, which no continuation replaces); pause and
  // cancel once this answer's jobs are in the buffer.
  std::vector<ControlNotification> control;
  if (rt.sent_ahead) {
    std::vector<JobsNotification> jobs;
    jobs.swap(deferred_jobs_);
    control.swap(deferred_control_);
    TakeNotes(jobs, {}, clock_.Now());
  }
  // The next scan goes out now, while this answer is taken in.
  const absl::Status ahead = MaybeContinue(rt);
  std::vector<JobKey> released = ApplyToBuffer(rt);
  if (!control.empty()) TakeNotes({}, control, clock_.Now());
  if (!released.empty()) planner_.Released(released);
  {
    // Parked slots no job took: those the answer of a scan sent after them
    // found no job for, and any parked longer than about two round trips
    // (the pool is not scanning: its buffer is full, or the queue empty).
    MutexLock lock(mu_);
    if (!parked_.empty()) {
      const absl::Duration window =
          std::clamp(2 * planner_.round_trip(), absl::Milliseconds(5),
                     LockPlanner::kLimitRetry);
      const absl::Time at = clock_.Now();
      if (UnparkSlots(rt.request.lock && rt.response.lock.ok()
                          ? std::max(now, at - window)
                          : at - window)) {
        planner_.RoundTripBy(at);
      }
      absl::Time oldest = absl::InfiniteFuture();
      for (const auto& [bucket, slots] : parked_) {
        for (const ParkedSlot& p : slots) oldest = std::min(oldest, p.since);
      }
      if (oldest != absl::InfiniteFuture()) {
        planner_.RoundTripBy(oldest + window);
      }
    }
  }
  Report(rt);
  if (!ahead.ok()) {
    // The scan sent ahead left the connection in doubt: its locks, and
    // this answer's, go with the session.
    RoundTripFailed(ahead);
    return;
  }
  if (rt.response.any_failed) {
    planner_.Failed(clock_.Now());
  } else {
    planner_.Succeeded();
  }
  work_cv_.SignalAll();
}

absl::Status FastPool::MaybeContinue(const RoundTrip& rt) {
  const LockerSession::Response& r = rt.response;
  if (!rt.request.lock || !r.lock.ok() || r.any_failed) return absl::OkStatus();
  const LockerSession::LockResult& l = *r.lock;
  // A plain scan on from the cursor only: no flow control in play (its
  // slots, hand-offs and probes are planned from each answer), and not on
  // an encrypted connection, where the workers' look at the socket cannot
  // tell an answer waiting there from the server's last words and would
  // wait for the locker to read it.
  if (l.paused || l.exhausted || !l.last || !l.blocked.empty() ||
      !l.limit_locks.empty() || !l.limit_bucket.empty() ||
      !l.limit_wait.empty() || l.hand_held || rt.request.lock->hand != 0 ||
      !rt.request.lock->probes.empty() || hand_held_ ||
      !limit_unlocks_.empty() || session_->encrypted()) {
    return absl::OkStatus();
  }
  LockerSession::Lock lock;
  {
    MutexLock m(mu_);
    if (stopping_ || !parked_.empty() || HandWanted()) return absl::OkStatus();
    const int held = static_cast<int>(ready_.size() + running_.size() +
                                      l.rows.size() + l.unreadable.size());
    std::optional<Plan> plan = planner_.PlanContinuation(
        held, static_cast<int>(releasing_.size()), clock_.Now());
    if (!plan) return absl::OkStatus();
    // Its held list: the jobs the pool holds after the cursor. This
    // answer's jobs are not among them yet; they sort at or before the
    // cursor, where the scan does not look.
    lock = LockRequest(*plan, {});
    session_ahead_ = true;  // before its answer can arrive
  }
  if (absl::Status s = session_->SendLock(lock); !s.ok()) return s;
  continuation_ = std::move(lock);
  return absl::OkStatus();
}

void FastPool::ReleaseWaitedTooLong(const std::vector<JobKey>& keys) {
  if (keys.empty()) return;
  // Back to the queue, for any worker. Each reports a release to Finish();
  // a later round trip unlocks it.
  std::vector<std::unique_ptr<Job>> released;
  {
    MutexLock lock(mu_);
    std::vector<int64_t> ids;
    for (const JobKey& key : keys) ids.push_back(key.id);
    released = TakeBuffered(ids, /*lock_released=*/false);
  }
  for (const JobKey& key : keys) releasing_.insert(key.id);
}

LockerSession::Request FastPool::BuildRequest(const Plan& plan, RoundTrip& rt) {
  const CompletionBatch::Request& writes = rt.writes;
  LockerSession::Request request;
  // Extra counts of re-entrant locks go back with the finished jobs' locks,
  // and so do the slot locks of limited jobs.
  std::vector<int64_t> unlock = writes.unlock;
  unlock.insert(unlock.end(), rt.relocked.begin(), rt.relocked.end());
  // A finished job's slots go as soon as its outcome is sent (it no longer
  // runs), not a round trip later with its own lock: the slot is free for
  // the scan of this same round trip (the unlock precedes it).
  rt.limit_unlocks.swap(limit_unlocks_);
  if (!limit_locks_.empty()) {
    std::vector<int64_t> finished = writes.unlock;
    for (const CompletionBatch::Write& w : writes.writes) {
      finished.insert(finished.end(), w.ids.begin(), w.ids.end());
    }
    for (int64_t id : finished) {
      if (auto it = limit_locks_.find(id); it != limit_locks_.end()) {
        rt.limit_unlocks.insert(rt.limit_unlocks.end(), it->second.begin(),
                                it->second.end());
        rt.limit_freed.push_back(id);
      }
    }
  }
  unlock.insert(unlock.end(), rt.limit_unlocks.begin(), rt.limit_unlocks.end());
  if (!unlock.empty()) request.unlock = queries::UnlockBatch(unlock);
  for (const CompletionBatch::Write& w : writes.writes) {
    request.writes.push_back(w.call);
  }
  request.confirm = plan.confirm;
  request.ack_cancels.swap(pending_acks_);
  MutexLock lock(mu_);
  for (const JobKey& key : plan.confirm) {
    if (auto it = ready_.find(key); it != ready_.end()) {
      it->second.confirming = true;
    }
  }
  if (continuation_) {
    // The scan sent ahead is this round trip's lock (the planner planned
    // none; flow control, which has the hand-off lock, sends none ahead).
  } else if (plan.lock > 0) {
    request.lock = LockRequest(plan, rt.limit_unlocks);
  } else if (hand_held_ &&
             (plan.hand_due || hand_release_wanted_ || !HandWanted())) {
    // Nothing to lock: the hand-off lock alone, so that a change to limits
    // waiting for it is not kept waiting by a pool whose buffer is full
    // (keep it and look for a change, or let go of it).
    request.hand_op = HandRequest();
    request.hand_queue = options_.queue;
  } else if (hand_held_) {
    planner_.RoundTripBy(clock_.Now() + LockPlanner::kLimitRetry);
  }
  return request;
}

LockerSession::Lock FastPool::LockRequest(const Plan& plan,
                                          const std::vector<int64_t>& freeing) {
  LockerSession::Lock l;
  l.queue = options_.queue;
  l.want = plan.lock;
  l.max_scan = plan.max_scan;
  l.after = plan.after;
  l.rewind = plan.rewind;
  // Only jobs the scan can meet: after its start key (a scan that continues
  // after the cursor usually meets none of them, so the list stays short
  // however big the buffer). A millisecond of margin: a held job the scan
  // meets but the list leaves out would be locked again (locks are
  // re-entrant).
  std::optional<JobKey> start = l.rewind ? l.rewind : l.after;
  // Probes look from keys behind both (jobs a limit held back): held jobs
  // after the earliest probe must be listed too, or a probe would lock one
  // of ours again and admit it a second time.
  for (const JobKey& probe : plan.probes) {
    if (!start || probe < *start) start = probe;
  }
  if (start && start->run_at != absl::InfinitePast()) {
    start->run_at -= absl::Milliseconds(1);
    start->id = std::numeric_limits<int64_t>::min();
  }
  auto add = [&](const JobKey& key) {
    if (!start || *start < key) l.held.push_back(key.id);
  };
  for (const auto& [id, key] : held_) add(key);
  for (const auto& [id, key] : running_) {
    if (!held_.contains(id)) add(key);
  }
  l.held.insert(l.held.end(), unreadable_.begin(), unreadable_.end());
  // Every slot lock the session holds: a slot taken twice would count once.
  // Not those this round trip lets go of before its scan: the scan may take
  // them again at once (listed, they would wait for the next scan).
  const absl::flat_hash_set<int64_t> freed(freeing.begin(), freeing.end());
  for (const auto& [id, locks] : limit_locks_) {
    for (int64_t k : locks) {
      if (!freed.contains(k)) l.held.push_back(k);
    }
  }
  l.held.insert(l.held.end(), limit_unlocks_.begin(), limit_unlocks_.end());
  l.scope = scope_;
  l.probes = plan.probes;
  l.probe_buckets = plan.probe_buckets;
  l.hand = HandRequest();
  return l;
}

bool FastPool::HandWanted() const {
  // While limits that allow hand-offs are in play here.
  return !hand_slots_.empty() || !slotless_.empty() || !limit_locks_.empty();
}

int FastPool::HandRequest() {
  if (hand_held_) {
    if (hand_release_wanted_ || !HandWanted()) {
      hand_ok_ = false;  // until the answer, and after it
      return 4;
    }
    return 2;
  }
  return HandWanted() ? 1 : 0;
}

void FastPool::TakeHand(const LockerSession::LockResult& l, int hand,
                        const std::vector<int64_t>& relocked, absl::Time now) {
  hand_held_ = l.hand_held;
  if (hand == 4 || !hand_held_) hand_release_wanted_ = false;
  // A scan taken under other limits: its slots are not handed on (they
  // go with their jobs' locks).
  const bool other_limits = l.limits_version != limits_version_;
  limits_version_ = l.limits_version;
  arriving_wait_ = l.limit_wait;
  MutexLock lock(mu_);
  if (other_limits) {
    hand_slots_.clear();
    wait_buckets_.clear();
  }
  for (const auto& [id, bucket] : l.limit_bucket) {
    auto locks = l.limit_locks.find(id);
    if (locks == l.limit_locks.end() || locks->second.size() != 1 ||
        std::find(relocked.begin(), relocked.end(), id) != relocked.end()) {
      continue;
    }
    hand_slots_[id] = {locks->second[0], bucket};
  }
  if (hand_held_ && l.change_wanted) {
    // A change to limits waits for the lock: no hand-off from now on, and
    // the lock goes in the next round trip (then scans take it again).
    hand_release_wanted_ = true;
    planner_.RoundTripBy(now);
  }
  hand_ok_ = hand_held_ && !hand_release_wanted_;
  // Parked slots are handed on only under the limits they were taken under.
  if ((!hand_ok_ || other_limits) && UnparkSlots(absl::InfiniteFuture())) {
    planner_.RoundTripBy(now);
  }
  // While held, a look at least every 100 ms for a change waiting.
  if (hand_held_) planner_.RoundTripBy(now + LockPlanner::kLimitRetry);
}

void FastPool::RoundTripFailed(const absl::Status& why) {
  {
    MutexLock lock(mu_);
    for (auto& [key, buffered] : ready_) buffered.confirming = false;
  }
  LoseSession(why);
  planner_.Failed(clock_.Now());
  work_cv_.SignalAll();
}

void FastPool::ApplyWrites(RoundTrip& rt) {
  const LockerSession::Response& r = rt.response;
  // Completions: what was written, released, given up on.
  CompletionBatch::Response written;
  written.writes = r.writes;
  written.unlock = rt.request.unlock ? r.unlock : absl::OkStatus();
  for (const CompletionBatch::GivenUp& g : batch_.Apply(rt.writes, written)) {
    Log(LogLevel::kError,
        absl::StrCat("qg: job ", g.id, ": ", g.why,
                     "; releasing it unrecorded (it will run again)"));
  }
  for (const auto& w : r.writes) {
    if (!w.ok()) {
      Log(LogLevel::kError,
          absl::StrCat("qg: recording finished jobs: ", w.status().ToString()));
    }
  }
  if (rt.request.unlock && r.unlock.ok()) {
    // Slots freed: jobs a limit held back may start now.
    for (int64_t id : rt.limit_freed) limit_locks_.erase(id);
    if (!rt.limit_unlocks.empty()) planner_.LimitFreed();
  }
  if (rt.request.unlock && !r.unlock.ok()) {
    relocked_.insert(relocked_.end(), rt.relocked.begin(), rt.relocked.end());
    limit_unlocks_.insert(limit_unlocks_.end(), rt.limit_unlocks.begin(),
                          rt.limit_unlocks.end());
    // The finished jobs' own slot locks stay in limit_locks_ until the
    // batch releases them again.
    for (int64_t id : rt.limit_freed) {
      if (auto it = limit_locks_.find(id); it != limit_locks_.end()) {
        for (int64_t k : it->second) {
          limit_unlocks_.erase(
              std::remove(limit_unlocks_.begin(), limit_unlocks_.end(), k),
              limit_unlocks_.end());
        }
      }
    }
    Log(LogLevel::kError,
        absl::StrCat("qg: releasing finished jobs: ", r.unlock.ToString()));
  } else if (r.not_held > 0) {
    Log(LogLevel::kError, absl::StrCat("qg: ", r.not_held,
                                       " finished job(s) were no longer "
                                       "locked by the locker session"));
  }
}

void FastPool::LockScanned(RoundTrip& rt, absl::Time sent) {
  const Plan& plan = *rt.plan;
  LockerSession::Response& r = rt.response;
  // (lock_sent_at: sent_at, or when a scan sent ahead went out.)
  planner_.RoundTrip(r.received_at - r.lock_sent_at,
                     rt.request.lock.has_value());
  Log(LogLevel::kDebug,
      absl::StrCat(
          "qg: round trip ", absl::FormatDuration(r.received_at - r.sent_at),
          ": lock ", rt.request.lock ? rt.request.lock->want : 0,
          rt.sent_ahead ? " (sent ahead)" : "", " got ",
          r.lock.ok() ? r.lock->rows.size() : 0, ", confirm ",
          plan.confirm.size(), ", writes ", rt.request.writes.size(),
          ", unlock ", rt.writes.unlock.size(), ", buffer target ",
          planner_.BufferTarget(), ", after ",
          rt.request.lock && rt.request.lock->after
              ? absl::StrCat(rt.request.lock->after->id)
              : "head",
          ", rewind ", plan.rewind ? absl::StrCat(plan.rewind->id) : "none",
          r.lock.ok() && r.lock->last
              ? absl::StrCat(", scanned to ", r.lock->last->id)
              : "",
          plan.probes.empty() ? ""
                              : absl::StrCat(", probes ", plan.probes.size()),
          r.lock.ok() && !r.lock->blocked.empty()
              ? absl::StrCat(", held back ", r.lock->blocked.size())
              : ""));
  if (!rt.request.lock) return;
  if (!r.lock.ok()) {
    Log(LogLevel::kError,
        absl::StrCat("qg: locking jobs of queue \"", options_.queue,
                     "\": ", r.lock.status().ToString()));
    return;
  }
  LockerSession::LockResult& l = *r.lock;
  planner_.Paused(l.paused);
  planner_.Locked(rt.request.lock->want,
                  static_cast<int>(l.rows.size() + l.unreadable.size()),
                  l.scanned, l.last, l.exhausted, sent, l.rewind_stopped);
  if (!l.unreadable.empty()) {
    Log(LogLevel::kError,
        absl::StrCat("qg: cannot read job row(s) ", Ids(l.unreadable),
                     "; releasing them and not locking them again"));
  }
}

std::vector<JobKey> FastPool::ApplyToBuffer(RoundTrip& rt) {
  const Plan& plan = *rt.plan;
  LockerSession::Response& r = rt.response;
  std::vector<std::unique_ptr<Job>> gone;
  std::vector<JobKey> released;  // buffered jobs given back, now unlocked
  std::vector<JobRow> fresh;
  std::vector<int64_t> relocked;
  uint64_t generation;
  {
    MutexLock lock(mu_);
    generation = generation_;
    if (rt.request.unlock && r.unlock.ok()) {
      for (int64_t id : rt.writes.unlock) {
        if (releasing_.erase(id) > 0) {
          if (auto it = held_.find(id); it != held_.end()) {
            released.push_back(it->second);
          }
        }
        held_.erase(id);
      }
    }
    gone = ApplyConfirm(plan.confirm, r);
    if (rt.request.lock && r.lock.ok()) {
      for (int64_t id : r.lock->unreadable) {
        unreadable_.insert(id);
        JobKey key;
        key.id = id;
        held_.emplace(id, key);
      }
      // A row this session already holds came back (advisory locks are
      // re-entrant: the scan met a held job the held list left out). It is
      // running or buffered already: never a second copy. Its extra lock
      // count goes back in the next round trip.
      for (JobRow& row : r.lock->rows) {
        if (held_.contains(row.key.id) || running_.contains(row.key.id)) {
          relocked.push_back(row.key.id);
        } else {
          fresh.push_back(std::move(row));
        }
      }
    }
  }
  std::vector<int64_t> gone_ids_for_limits;  // released by the re-check
  for (const auto& job : gone) gone_ids_for_limits.push_back(job->id());
  if (!gone.empty()) {
    std::vector<int64_t> ids;
    for (const auto& job : gone) ids.push_back(job->id());
    Log(LogLevel::kInfo,
        absl::StrCat("qg: ", ids.size(),
                     " buffered job(s) changed or vanished before they "
                     "started; not running them (ids ",
                     Ids(ids), ")"));
    gone.clear();
  }
  if (rt.request.lock && r.lock.ok() && !r.lock->unreadable.empty()) {
    // Released unrecorded in a later round trip, never locked again.
    std::vector<Completion> release;
    for (int64_t id : r.lock->unreadable) {
      Completion c;
      c.key.id = id;
      c.generation = generation;
      release.push_back(std::move(c));
    }
    batch_.Add(std::move(release), generation);
  }
  if (rt.request.hand_op != 0) {
    // The hand-off lock alone: as a scan's answer without rows.
    if (!r.hand.has_value()) {
      hand_held_ = true;  // unknown: let go of it for sure next time
      hand_release_wanted_ = true;
      MutexLock lock(mu_);
      hand_ok_ = false;
    } else {
      TakeHand(*r.hand, rt.request.hand_op, relocked, r.received_at);
    }
  }
  if (rt.request.lock && r.lock.ok()) {
    TakeLimitLocks(*r.lock, relocked, r.received_at);
    TakeHand(*r.lock, rt.request.lock->hand, relocked, r.received_at);
  } else if (rt.request.lock) {
    // A failed scan may have let go of the hand-off lock, or taken it: the
    // next one lets go of it for sure (and takes it again if wanted).
    if (rt.request.lock->hand != 0) {
      hand_held_ = true;
      hand_release_wanted_ = true;
    }
    arriving_wait_.clear();
    MutexLock lock(mu_);
    hand_ok_ = false;
  }
  for (const auto& job : gone_ids_for_limits) {
    if (auto it = limit_locks_.find(job); it != limit_locks_.end()) {
      limit_unlocks_.insert(limit_unlocks_.end(), it->second.begin(),
                            it->second.end());
      limit_locks_.erase(it);
    }
  }
  if (!relocked.empty()) {
    Log(LogLevel::kError,
        absl::StrCat("qg: the lock scan returned ", relocked.size(),
                     " job(s) this pool already holds; not running them "
                     "twice (ids ",
                     Ids(relocked), ")"));
    relocked_.insert(relocked_.end(), relocked.begin(), relocked.end());
  }
  // Checked when the scan ran: by the time the answer was read, or, for a
  // scan sent ahead, whose answer may have waited, when it was sent.
  if (rt.request.lock && r.lock.ok()) {
    AddLocked(std::move(fresh), rt.sent_ahead ? r.lock_sent_at : r.received_at);
  }
  return released;
}

bool FastPool::FreesSlots(const CompletionBatch::Request& writes) const {
  for (int64_t id : writes.unlock) {
    if (limit_locks_.contains(id)) return true;
  }
  for (const CompletionBatch::Write& w : writes.writes) {
    for (int64_t id : w.ids) {
      if (limit_locks_.contains(id)) return true;
    }
  }
  return false;
}

void FastPool::TakeLimitLocks(const LockerSession::LockResult& l,
                              const std::vector<int64_t>& relocked,
                              absl::Time now) {
  for (const auto& [id, locks] : l.limit_locks) {
    if (std::find(relocked.begin(), relocked.end(), id) != relocked.end()) {
      // Taken again for a job we hold: those go back at once.
      limit_unlocks_.insert(limit_unlocks_.end(), locks.begin(), locks.end());
      continue;
    }
    std::vector<int64_t>& kept = limit_locks_[id];
    kept.insert(kept.end(), locks.begin(), locks.end());
  }
  if (!l.blocked.empty()) {
    planner_.LimitBlocked(
        l.blocked, l.retry_in ? now + *l.retry_in : absl::InfiniteFuture(),
        now);
  }
}

std::vector<std::unique_ptr<Job>> FastPool::ApplyConfirm(
    const std::vector<JobKey>& confirmed, const LockerSession::Response& r) {
  // Re-checked jobs: fresh again, or gone (the statement released them).
  for (const JobKey& key : confirmed) {
    if (auto it = ready_.find(key); it != ready_.end()) {
      it->second.confirming = false;
      if (r.confirm.ok()) it->second.checked_at = r.received_at;
    }
  }
  if (!r.confirm.ok()) return {};
  std::vector<int64_t> missing;
  for (const auto& [id, present] : *r.confirm) {
    if (!present) missing.push_back(id);
  }
  return TakeBuffered(missing, /*lock_released=*/true);
}

void FastPool::Report(const RoundTrip& rt) {
  if (options_.observer == nullptr) return;
  const Plan& plan = *rt.plan;
  const LockerSession::Response& r = rt.response;
  PoolObserver::RoundTrip report;
  report.took = r.received_at - r.sent_at;
  report.locked = r.lock.ok() ? static_cast<int>(r.lock->rows.size()) : 0;
  for (const CompletionBatch::Write& w : rt.writes.writes) {
    report.written += static_cast<int>(w.ids.size());
  }
  report.released = static_cast<int>(rt.writes.unlock.size());
  report.rechecked = static_cast<int>(plan.confirm.size());
  report.scanned = r.lock.ok() ? r.lock->scanned : 0;
  report.rewound = plan.rewind.has_value();
  report.sent_ahead = rt.sent_ahead;
  report.from_head =
      plan.lock > 0 &&
      (!plan.after.has_value() ||
       (plan.rewind && plan.rewind->run_at == absl::InfinitePast()));
  {
    MutexLock lock(mu_);
    report.buffered = static_cast<int>(ready_.size());
  }
  report.lane = lane_id_;
  options_.observer->OnRoundTrip(report);
}

void FastPool::OnControl(const ControlNotification& n) {
  switch (n.kind) {
    case ControlNotification::Kind::kPause:
    case ControlNotification::Kind::kResume:
      if (n.queue == options_.queue) {
        bool paused = n.kind == ControlNotification::Kind::kPause;
        if (paused != planner_.paused()) {
          Log(LogLevel::kInfo,
              absl::StrCat("qg: queue \"", options_.queue, "\" ",
                           paused ? "paused: locking nothing new" : "resumed"));
        }
        planner_.Paused(paused);
      }
      break;
    case ControlNotification::Kind::kCancel: {
      // Only a job this pool is running or has buffered can be stopped (a
      // finished one waiting for its outcome to be written is done).
      MutexLock lock(mu_);
      bool buffered = false;
      for (const auto& [key, b] : ready_) buffered = buffered || key.id == n.id;
      if (buffered || (running_.contains(n.id) && held_.contains(n.id))) {
        pending_acks_.push_back(n.id);
      }
      break;
    }
  }
}

void FastPool::CancelAcked(const std::vector<int64_t>& ids) {
  if (ids.empty()) return;
  std::vector<std::unique_ptr<Job>> never_started;
  {
    MutexLock lock(mu_);
    for (int64_t id : ids) {
      if (auto it = running_jobs_.find(id); it != running_jobs_.end()) {
        // Running: its handler is asked to stop; PerformJob records it as
        // cancelled when the handler then fails.
        it->second->Cancel(Job::CancelReason::kCancelled);
      }
    }
    never_started = TakeBuffered(ids, /*lock_released=*/false);
  }
  for (std::unique_ptr<Job>& job : never_started) {
    // Not started: cancelled as it is; its Done() hands the record to the
    // batch, which writes it and then releases the lock.
    if (absl::Status s =
            job->RecordCancelled("by an operator before it started");
        !s.ok()) {
      Log(LogLevel::kError,
          absl::StrCat("qg: cancelling job ", job->id(), ": ", s.ToString()));
    }
    Log(LogLevel::kInfo, absl::StrCat("qg: job ", job->id(),
                                      " cancelled by an operator before it "
                                      "started"));
  }
  never_started.clear();
}

// The locker thread: (re)open the session, take in what arrived (NOTIFYs,
// a sweep's answer, control requests, finished jobs), ask the planner, and
// run the round trip it wants or wait until it wants one.
void FastPool::LockerLoop() {
  while (true) {
    if (session_ == nullptr) {
      if (stopping()) break;  // the locks died with the session
      if (clock_.Now() < reconnect_at_) {
        wake_.Wait(-1, reconnect_at_, clock_);
        continue;
      }
      if (!OpenSession()) continue;
    }
    const absl::Time now = clock_.Now();
    if (!TakeNotifications(now)) continue;  // the session is gone
    if (TakeFinished(now)) continue;        // stopping: take those in first
    std::optional<PoolView> view = ViewForPlanner();
    if (!view) break;  // stopped, and everything written and released
    if (!limit_locks_.empty() && FreesSlots(batch_.Next())) {
      // Slots go in the coming round trip: its scan can take them.
      planner_.LimitFreed();
    }
    Plan plan = planner_.Decide(*view, now);
    if (plan.sweep) {
      if (absl::Status s =
              session_->StartSweep(options_.queue, plan.sweep_before, 100);
          !s.ok()) {
        // The sweep connection holds no lock: try again later.
        SweepFailed(s, now, absl::ZeroDuration());
      }
    }
    if (plan.round_trip) {
      RunRoundTrip(plan);
      continue;
    }
    wake_.Wait(session_->socket(), plan.wake_at, clock_,
               session_->sweeping() ? session_->sweep_socket() : -1);
  }
  // Whatever is still buffered had its lock with the lost session.
  std::vector<std::unique_ptr<Job>> dropped;
  {
    MutexLock lock(mu_);
    std::vector<int64_t> ids;
    for (const auto& [key, buffered] : ready_) ids.push_back(key.id);
    dropped = TakeBuffered(ids, /*lock_released=*/true);
  }
}

bool FastPool::stopping() {
  MutexLock lock(mu_);
  return stopping_;
}

bool FastPool::TakeNotifications(absl::Time now) {
  std::vector<JobsNotification> notes;
  std::vector<ControlNotification> control;
  if (absl::Status s = session_->Poll(&notes, &control); !s.ok()) {
    LoseSession(s);
    return false;
  }
  absl::StatusOr<std::optional<LockerSession::Sweep>> swept =
      session_->PollSweep();
  if (!swept.ok()) {
    LoseSession(swept.status());
    return false;
  }
  if (input_waiters_.exchange(false)) {
    // Workers that found the socket unread: read now. Under the lock, so
    // that no worker is between its check and its wait.
    MutexLock lock(mu_);
    work_cv_.SignalAll();
  }
  if (swept->has_value()) OnSwept(**swept);
  if (continuation_) {
    deferred_jobs_.insert(deferred_jobs_.end(), notes.begin(), notes.end());
    deferred_control_.insert(deferred_control_.end(), control.begin(),
                             control.end());
  } else {
    TakeNotes(notes, control, now);
  }
  if (!planner_.client_closed() && client_->closed()) {
    // Client::Close(): nothing new; what is buffered goes back.
    planner_.ClientClosed();
    if (!said_closed_->exchange(true)) {
      Log(LogLevel::kWarning,
          absl::StrCat("qg: the client is closed: the pool of queue \"",
                       options_.queue,
                       "\" takes no new jobs until it is shut down"));
    }
  }
  return true;
}

void FastPool::TakeNotes(const std::vector<JobsNotification>& jobs,
                         const std::vector<ControlNotification>& control,
                         absl::Time now) {
  for (const ControlNotification& c : control) OnControl(c);
  for (const JobsNotification& n : jobs) {
    if (n.queue != options_.queue) continue;
    planner_.Notified(n.run_at - db_offset_, n.priority, now);
  }
}

bool FastPool::TakeFinished(absl::Time now) {
  std::vector<Completion> finished;
  std::vector<std::unique_ptr<Job>> release;
  std::vector<HandOff> hand_offs;
  uint64_t generation;
  {
    MutexLock lock(mu_);
    finished.swap(finished_);
    hand_offs.swap(hand_offs_);
    generation = generation_;
    if (stopping_) {
      // Jobs that did not start go back to the queue.
      std::vector<int64_t> ids;
      for (const auto& [key, buffered] : ready_) ids.push_back(key.id);
      release = TakeBuffered(ids, /*lock_released=*/false);
    }
  }
  // Slots handed on: they stay held, with their new jobs (or parked, under
  // kParked); those let go of are released in the next round trip.
  for (const HandOff& h : hand_offs) {
    bool had = false;
    if (auto it = limit_locks_.find(h.from); it != limit_locks_.end()) {
      std::vector<int64_t>& locks = it->second;
      auto found = std::find(locks.begin(), locks.end(), h.lock);
      if (found != locks.end()) {
        locks.erase(found);
        had = true;
      }
      if (locks.empty()) limit_locks_.erase(it);
    }
    if (h.to != kReleased) {
      limit_locks_[h.to].push_back(h.lock);
    } else if (had) {
      // Only a slot still on the books: one the locker let go of another
      // way (a re-check found its job gone) must not be unlocked twice (the
      // session may hold it again, for another job).
      limit_unlocks_.push_back(h.lock);
    }
  }
  for (const Completion& c : finished) {
    // A later run_at: look for it when it is due.
    if (c.outcome.kind == Outcome::Kind::kError) {
      planner_.Rescheduled(c.key.priority, now + c.outcome.error.delay);
    } else if (c.outcome.kind == Outcome::Kind::kSnooze) {
      planner_.Rescheduled(c.key.priority, now + c.outcome.snooze);
    }
  }
  for (const Completion& c : batch_.Add(std::move(finished), generation)) {
    Log(LogLevel::kError,
        absl::StrCat("qg: job ", c.key.id,
                     " finished after its lock was lost with the locker "
                     "session; leaving it to run again"));
  }
  // Each released job reports a release to Finish(), to be taken in.
  return !release.empty();
}

std::optional<PoolView> FastPool::ViewForPlanner() {
  MutexLock lock(mu_);
  if (stopping_ && workers_running_ == 0 && ready_.empty() &&
      finished_.empty() && batch_.empty() && !continuation_) {
    return std::nullopt;
  }
  PoolView view;
  view.idle_workers = idle_workers_;
  // Buffered and running jobs fill the pool; finished ones waiting for
  // their outcome to be written and their lock released do not.
  view.held = static_cast<int>(ready_.size() + running_.size());
  const absl::Time now = clock_.Now();
  int stale_slotless = 0;
  // Paused, or the client closed: every one of them goes back.
  const bool all_waiting = planner_.paused() || planner_.client_closed();
  // The buckets whose slots jobs of ours hold: a job waiting for a slot of
  // any other waits for a hand-off that will not come.
  absl::flat_hash_set<int64_t> slot_buckets;
  if (!slotless_.empty()) {
    for (const auto& [id, slot] : hand_slots_) slot_buckets.insert(slot.bucket);
    for (const auto& [bucket, slots] : parked_) slot_buckets.insert(bucket);
  }
  for (const auto& [key, buffered] : ready_) {
    if (buffered.slotless) {  // no worker may start it before a hand-off
      view.waiting_slot_oldest =
          std::min(view.waiting_slot_oldest, buffered.locked_at);
      if (all_waiting || !slot_buckets.contains(buffered.wait_bucket)) {
        view.waiting_slot.push_back({key, buffered.checked_at,
                                     buffered.locked_at,
                                     /*no_slot_coming=*/true});
        continue;
      }
      // Those the planner acts on: to re-check (the first getting old, in
      // the order hand-offs take them), to give back.
      const bool aging =
          !buffered.confirming &&
          now - buffered.checked_at > options_.planner.recheck_after / 2 &&
          stale_slotless < options_.planner.max_batch;
      if (aging ||
          now - buffered.locked_at > options_.planner.max_buffer_wait) {
        stale_slotless += aging ? 1 : 0;
        view.waiting_slot.push_back(
            {key, buffered.checked_at, buffered.locked_at});
      }
      continue;
    }
    view.buffered.push_back({key, buffered.checked_at, buffered.locked_at});
  }
  if (run_time_count_ > 0) {
    planner_.Ran(run_time_sum_ / run_time_count_);
    run_time_sum_ = absl::ZeroDuration();
    run_time_count_ = 0;
  }
  view.releasing = static_cast<int>(releasing_.size());
  view.writes_pending = !batch_.empty();
  view.acks_pending = !pending_acks_.empty();
  view.stopping = stopping_;
  return view;
}

}  // namespace qg::internal
