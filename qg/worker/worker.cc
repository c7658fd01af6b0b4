#include "qg/worker/worker.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/executor.h"
#include "qg/grants.h"
#include "qg/internal/conn_pool.h"
#include "qg/internal/pooler.h"
#include "qg/internal/sync.h"
#include "qg/limits.h"
#include "qg/periodic.h"
#include "qg/worker/control_listener.h"
#include "qg/worker/fast_pool.h"
#include "qg/worker/guarded_observer.h"
#include "qg/worker/watchdog.h"

namespace qg {

using internal::MutexLock;

absl::Duration WorkerOptions::DefaultInterval() {
  const char* env = getenv("QUE_WAKE_INTERVAL");
  if (env == nullptr) return absl::Seconds(5);
  double seconds = 0;
  if (absl::SimpleAtod(env, &seconds) && seconds > 0 && seconds < 1e9) {
    return absl::Seconds(seconds);
  }
  DefaultLogger().Log(
      LogLevel::kWarning,
      absl::StrCat("qg: ignoring QUE_WAKE_INTERVAL=\"", env,
                   "\": it must be a positive number of seconds; using 5"));
  return absl::Seconds(5);
}

absl::Status WorkerOptions::Validate() const {
  if (interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("WorkerOptions::interval must be positive, not ",
                     absl::FormatDuration(interval)));
  }
  if (buffer < -1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "WorkerOptions::buffer must be -1 (default) or more, not ", buffer));
  }
  if (recheck_after < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "WorkerOptions::recheck_after must not be negative");
  }
  if (max_buffer_wait <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "WorkerOptions::max_buffer_wait must be positive");
  }
  if (sessions < 0 || sessions > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "WorkerOptions::sessions must be 0 (automatic) to 64, not ", sessions));
  }
  if (round_trip_timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(
        "WorkerOptions::round_trip_timeout must be at least 1ms");
  }
  for (const Limit& limit : limits) {
    if (absl::Status s = ValidateLimit(limit); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("WorkerOptions::limits: ", s.message()));
    }
  }
  return absl::OkStatus();
}

std::string WorkerOptions::DefaultQueue() {
  const char* env = getenv("QUE_QUEUE");
  return env != nullptr ? env : "";
}

Worker::Worker(Client* client, const WorkMap* work_map, WorkerOptions options)
    : Worker(client, work_map, std::move(options), nullptr) {}

Worker::Worker(Client* client, const WorkMap* work_map, WorkerOptions options,
               internal::Watchdog* watchdog,
               const internal::ControlListener* control,
               std::atomic<bool>* said_closed)
    : client_(client),
      work_map_(work_map),
      options_(std::move(options)),
      own_watchdog_(watchdog == nullptr ? std::make_unique<internal::Watchdog>()
                                        : nullptr),
      watchdog_(watchdog != nullptr ? watchdog : own_watchdog_.get()),
      control_(control),
      said_closed_(said_closed != nullptr ? said_closed : &own_said_closed_),
      observer_(std::make_unique<internal::GuardedObserver>(
          options_.observer, &client->logger())) {}

bool Worker::Runs(int64_t id) {
  MutexLock lock(mu_);
  return current_ != nullptr && current_->id() == id;
}

void Worker::CancelIfRunning(int64_t id) {
  MutexLock lock(mu_);
  if (current_ != nullptr && current_->id() == id) {
    current_->Cancel(Job::CancelReason::kCancelled);
  }
}

Worker::~Worker() { Shutdown(); }

bool Worker::WorkOne() {
  if (client_->closed()) {
    // Nothing new after Client::Close(); said once (per pool).
    if (!said_closed_->exchange(true)) {
      client_->logger().Log(
          LogLevel::kWarning,
          absl::StrCat("qg: the client is closed: workers of queue \"",
                       options_.queue,
                       "\" take no new jobs until they are shut down"));
    }
    return false;
  }
  absl::StatusOr<std::unique_ptr<Job>> job = client_->LockJob(options_.queue);
  if (!job.ok()) {
    client_->logger().Log(
        LogLevel::kError,
        absl::StrCat("qg: locking a job of queue \"", options_.queue,
                     "\": ", job.status().ToString()));
    return false;
  }
  if (*job == nullptr) return false;
  absl::Time start = client_->clock().Now();
  {
    MutexLock lock(mu_);
    current_ = job->get();
  }
  PerformJob(**job, *work_map_, client_->logger(), watchdog_).IgnoreError();
  {
    MutexLock lock(mu_);
    current_ = nullptr;
  }
  if (options_.observer != nullptr) {
    observer_->OnJobDone({(*job)->queue(), (*job)->type(), (*job)->end(),
                          (*job)->run_at(), start, client_->clock().Now()});
  }
  return true;
}

void Worker::Work() {
  internal::ThreadRole role(this);  // its handlers may call Shutdown()
  {
    MutexLock lock(mu_);
    if (stop_) return;
    working_ = true;
  }
  client_->AddUser();
  while (true) {
    {
      MutexLock lock(mu_);
      if (stop_) break;
    }
    // A paused queue (Client::PauseQueue): take nothing new.
    if ((control_ == nullptr || !control_->paused()) && WorkOne()) continue;
    MutexLock lock(mu_);
    cv_.WaitUntil(lock, absl::Now() + options_.interval, [this] {
      mu_.AssertHeld();
      return stop_;
    });
  }
  client_->RemoveUser();
  MutexLock lock(mu_);
  working_ = false;
  cv_.SignalAll();
}

void Worker::RequestStop() {
  MutexLock lock(mu_);
  stop_ = true;
  cv_.SignalAll();
}

bool Worker::WaitStopped(absl::Time deadline) {
  MutexLock lock(mu_);
  return cv_.WaitUntil(lock, deadline, [this] {
    mu_.AssertHeld();
    return !working_;
  });
}

void Worker::Shutdown(absl::Duration grace) {
  RequestStop();
  // From its own handler: Work() returns once the handler has.
  if (internal::ThreadRole::Active(this)) return;
  if (!WaitStopped(absl::Now() + grace)) {
    watchdog_->CancelAll();
    WaitStopped(absl::InfiniteFuture());
  }
}

WorkerPool::WorkerPool(Client* client, const WorkMap* work_map, int count,
                       WorkerOptions options)
    : client_(client),
      work_map_(work_map),
      count_(count),
      options_(std::move(options)),
      watchdog_(std::make_unique<internal::Watchdog>()) {}

WorkerPool::~WorkerPool() { Shutdown(); }

WorkerMode WorkerPool::mode() const {
  MutexLock lock(mu_);
  return options_.mode;
}

std::string WorkerPool::mode_reason() const {
  MutexLock lock(mu_);
  return mode_reason_;
}

absl::Status WorkerPool::Start() {
  MutexLock shutdown_lock(shutdown_mu_);
  MutexLock lock(mu_);
  if (shut_down_) {
    return absl::FailedPreconditionError(
        "a worker pool cannot start after Shutdown(): make a new one");
  }
  if (started_) return absl::OkStatus();
  if (client_->closed()) {
    return absl::FailedPreconditionError(
        "cannot start a worker pool: its client is closed");
  }
  if (count_ < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a worker pool needs at least 1 worker, not ", count_));
  }
  if (absl::Status s = options_.Validate(); !s.ok()) return s;
  if (absl::Status s = client_->RequireSession("a worker pool"); !s.ok()) {
    return s;
  }
  {
    // A pool on a hot standby could lock jobs but never finish one. (A
    // server out of reach now is the pool's to wait for, as ever.)
    absl::StatusOr<internal::PooledConn> conn =
        client_->conn_pool()->Acquire(absl::Seconds(5));
    if (conn.ok()) {
      if (absl::Status s =
              internal::RequireWritableServer(conn->get(), "a worker pool");
          !s.ok()) {
        return s;
      }
      // A role that cannot finish a job (an enqueuer's) would lock jobs and
      // fail every one: refuse, saying which GRANTs are missing.
      if (absl::Status s = CheckGrants(conn->get(), GrantRole::kWorker,
                                       GrantCheck::kEssential);
          absl::IsPermissionDenied(s)) {
        return absl::PermissionDeniedError(
            absl::StrCat("cannot start a worker pool: ", s.message()));
      }
    }
  }
  if (absl::Status s = StoreLimits(); !s.ok()) return s;
  if (options_.periodic != nullptr && !periodic_started_) {
    if (absl::Status s = options_.periodic->Start(); !s.ok()) return s;
    periodic_started_ = true;
  }
  started_ = true;
  client_->AddUser();
  if (options_.mode == WorkerMode::kFast) {
    absl::Status s = StartFast();
    if (s.ok()) return absl::OkStatus();
    if (absl::IsResourceExhausted(s)) return Unstart(s);  // no threads left
    options_.mode = WorkerMode::kQgCompat;
    mode_reason_ = absl::StrCat(
        "qg-compatible (the fast path is unavailable: ", s.message(),
        "): one connection per busy worker, polling every ",
        absl::FormatDuration(options_.interval));
    client_->logger().Log(LogLevel::kInfo,
                          absl::StrCat("qg: worker pool runs ", mode_reason_));
  } else {
    mode_reason_ = absl::StrCat(
        "qg-compatible (asked for): one connection per busy worker, polling "
        "every ",
        absl::FormatDuration(options_.interval));
  }
  if (absl::Status s = StartQgCompat(); !s.ok()) return Unstart(s);
  return absl::OkStatus();
}

absl::Status WorkerPool::Unstart(absl::Status why) {
  started_ = false;
  client_->RemoveUser();
  if (periodic_started_) {
    options_.periodic->Stop();
    periodic_started_ = false;
  }
  return why;
}

absl::Status WorkerPool::StoreLimits() {
  if (options_.limits.empty()) return absl::OkStatus();
  absl::StatusOr<internal::PooledConn> conn =
      client_->conn_pool()->Acquire(absl::Seconds(30));
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  for (const Limit& limit : options_.limits) {
    absl::Status s = options_.replace_limits
                         ? SetLimit(exec, limit)
                         : EnsureLimit(exec, limit).status();
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("cannot start a worker pool: limit \"",
                                       limit.name, "\": ", s.message()));
    }
  }
  return absl::OkStatus();
}

namespace {

// Lane `lane`'s share of `n` over `lanes`, as even as it goes: 10 over 3
// lanes is 4, 3, 3.
int LaneShare(int n, int lanes, int lane) {
  return n / lanes + (lane < n % lanes ? 1 : 0);
}

}  // namespace

int WorkerPool::Lanes() const {
  int lanes = options_.sessions;
  if (lanes == 0) {
    // One lane per 4 workers, at most 4: one lane's locker keeps about a
    // backend and a half busy however many workers it feeds, and from 8
    // workers a second lane drains more (README, "Lanes").
    lanes = std::clamp(count_ / 4, 1, 4);
    // A server on this machine shares its cores with the pool: past two
    // lanes, one per 4 of them (with the next scan sent ahead, two lanes
    // paid at 8 and 32 workers even on 2 cores).
    if (internal::ServerOnThisMachine(client_->options().conninfo)) {
      const int cores = static_cast<int>(std::thread::hardware_concurrency());
      lanes = std::min(lanes, std::max(2, cores / 4));
    }
  }
  return std::clamp(lanes, 1, count_);
}

absl::Status WorkerPool::StartFast() {
  if (options_.observer != nullptr) {
    observer_ = std::make_unique<internal::GuardedObserver>(options_.observer,
                                                            &client_->logger());
  }
  const int lanes = Lanes();
  for (int lane = 0; lane < lanes; ++lane) {
    internal::FastPoolOptions fast;
    fast.queue = options_.queue;
    fast.planner.workers = LaneShare(count_, lanes, lane);
    // A fixed buffer is the pool's: split as the workers are (-1 adapts
    // per lane).
    fast.planner.buffer = options_.buffer < 0
                              ? options_.buffer
                              : LaneShare(options_.buffer, lanes, lane);
    fast.planner.max_buffer_wait = options_.max_buffer_wait;
    fast.planner.poll_interval = options_.interval;
    fast.planner.recheck_after = options_.recheck_after;
    fast.round_trip_timeout = options_.round_trip_timeout;
    fast.observer = observer_.get();
    fast_.push_back(std::make_unique<internal::FastPool>(
        client_, work_map_, fast, watchdog_.get(), &said_closed_));
    if (absl::Status s = fast_.back()->Start(); !s.ok()) {
      // What did start stops; nothing is left running.
      for (auto& f : fast_) f->RequestStop();
      fast_.pop_back();
      for (auto& f : fast_) f->Shutdown(absl::Now());
      fast_.clear();
      return s;
    }
  }
  mode_reason_ = absl::StrCat(
      "fast: ",
      lanes == 1 ? std::string("one locker session locks")
                 : absl::StrCat(lanes, " locker sessions (lanes) lock"),
      " jobs ahead in batches (",
      options_.buffer < 0 ? std::string("adaptive buffer")
                          : absl::StrCat("buffer ", options_.buffer),
      "), NOTIFY wake-ups, batched completions");
  return absl::OkStatus();
}

absl::Status WorkerPool::StartQgCompat() {
  // Pause, resume and cancel requests, which the fast path's locker
  // session hears itself.
  internal::ControlListener::Hooks hooks{[this](int64_t id) {
                                           for (auto& w : workers_) {
                                             if (w->Runs(id)) return true;
                                           }
                                           return false;
                                         },
                                         [this](int64_t id) {
                                           for (auto& w : workers_)
                                             w->CancelIfRunning(id);
                                         }};
  control_ = std::make_unique<internal::ControlListener>(
      client_->options().conninfo, options_.queue, std::move(hooks),
      &client_->logger());
  for (int i = 0; i < count_; ++i) {
    workers_.push_back(std::unique_ptr<Worker>(
        new Worker(client_, work_map_, options_, watchdog_.get(),
                   control_.get(), &said_closed_)));
  }
  // Reads the pause state before any worker starts.
  absl::Status s = control_->Start();
  for (size_t i = 0; s.ok() && i < workers_.size(); ++i) {
    absl::StatusOr<std::thread> t =
        internal::StartThread([this, worker = workers_[i].get()] {
          internal::ThreadRole role(this);  // handlers may call Shutdown()
          worker->Work();
        });
    if (t.ok()) {
      threads_.push_back(std::move(*t));
    } else {
      s = t.status();
    }
  }
  if (s.ok()) return s;
  // What did start stops; nothing is left running.
  for (auto& w : workers_) w->RequestStop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  control_->Stop();
  control_.reset();
  workers_.clear();
  return s;
}

void WorkerPool::RequestStop() {
  // The pool's parts exist before its threads start, so a handler sees them.
  for (auto& f : fast_) f->RequestStop();
  for (auto& w : workers_) w->RequestStop();
}

void WorkerPool::Shutdown(absl::Duration grace) {
  shut_down_ = true;
  if (internal::ThreadRole::Active(this) ||
      std::any_of(fast_.begin(), fast_.end(),
                  [](const auto& f) { return f->OnItsThread(); })) {
    // From a handler (or an observer) of this pool: it cannot wait for its
    // own thread. The pool stops taking jobs now; the owner's Shutdown()
    // or the destructor waits for the rest.
    RequestStop();
    return;
  }
  // One Shutdown at a time; `mu_` (what mode() reads) is not held while
  // waiting for handlers and joining threads.
  MutexLock shutdown_lock(shutdown_mu_);
  {
    MutexLock lock(mu_);
    if (!started_ || stopped_) return;
  }
  if (periodic_started_) {
    options_.periodic->Stop();
    periodic_started_ = false;
  }
  absl::Time deadline = absl::Now() + grace;
  // Every lane stops taking jobs at once; then each is waited for.
  for (auto& f : fast_) f->RequestStop();
  for (auto& f : fast_) f->Shutdown(deadline);
  // Signal all first so they stop in parallel, then wait for each.
  for (auto& w : workers_) w->RequestStop();
  bool all = true;
  for (auto& w : workers_) all = w->WaitStopped(deadline) && all;
  if (!all) {
    watchdog_->CancelAll();
    for (auto& w : workers_) w->WaitStopped(absl::InfiniteFuture());
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  if (control_ != nullptr) control_->Stop();
  {
    MutexLock lock(mu_);
    stopped_ = true;
  }
  client_->RemoveUser();
}

}  // namespace qg
