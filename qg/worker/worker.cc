#include "qg/worker/worker.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/worker/fast_pool.h"

namespace qg {

absl::Duration WorkerOptions::DefaultInterval() {
  const char* env = getenv("QUE_WAKE_INTERVAL");
  double seconds = 0;
  if (env != nullptr && absl::SimpleAtod(env, &seconds) && seconds >= 0) {
    return absl::Seconds(seconds);
  }
  return absl::Seconds(5);
}

std::string WorkerOptions::DefaultQueue() {
  const char* env = getenv("QUE_QUEUE");
  return env != nullptr ? env : "";
}

Worker::Worker(Client* client, const WorkMap* work_map, WorkerOptions options)
    : client_(client), work_map_(work_map), options_(std::move(options)) {}

Worker::~Worker() { Shutdown(); }

bool Worker::WorkOne() {
  absl::StatusOr<std::unique_ptr<Job>> job = client_->LockJob(options_.queue);
  if (!job.ok()) {
    client_->logger().Log(
        LogLevel::kError,
        absl::StrCat("qg: locking a job of queue \"", options_.queue,
                     "\": ", job.status().ToString()));
    return false;
  }
  if (*job == nullptr) return false;
  PerformJob(**job, *work_map_, client_->logger()).IgnoreError();
  return true;
}

void Worker::Work() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    working_ = true;
  }
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
    }
    if (WorkOne()) continue;
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.interval);
  }
  absl::MutexLock lock(&mu_);
  working_ = false;
}

void Worker::Shutdown() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
  auto stopped = [this]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !working_; };
  mu_.Await(absl::Condition(&stopped));
}

WorkerPool::WorkerPool(Client* client, const WorkMap* work_map, int count,
                       WorkerOptions options)
    : client_(client),
      work_map_(work_map),
      count_(count),
      options_(std::move(options)) {}

WorkerPool::~WorkerPool() { Shutdown(); }

WorkerMode WorkerPool::mode() const {
  absl::MutexLock lock(&mu_);
  return options_.mode;
}

void WorkerPool::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  if (options_.mode == WorkerMode::kFast) {
    internal::FastPoolOptions fast;
    fast.queue = options_.queue;
    fast.workers = count_;
    fast.poll_interval = options_.interval;
    fast.buffer =
        options_.buffer >= 0 ? options_.buffer : std::min(256, 4 * count_);
    fast_ = std::make_unique<internal::FastPool>(client_, work_map_, fast);
    absl::Status s = fast_->Start();
    if (s.ok()) return;
    client_->logger().Log(
        LogLevel::kError,
        absl::StrCat("qg: fast worker pool unavailable (", s.ToString(),
                     "); running qg-compatible workers instead"));
    fast_.reset();
    options_.mode = WorkerMode::kQgCompat;
  }
  for (int i = 0; i < count_; ++i) {
    workers_.push_back(std::make_unique<Worker>(client_, work_map_, options_));
  }
  for (auto& w : workers_) {
    threads_.emplace_back([worker = w.get()] { worker->Work(); });
  }
}

void WorkerPool::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (fast_ != nullptr) fast_->Shutdown();
  // Signal all first so they stop in parallel, then wait for each.
  std::vector<std::thread> signals;
  for (auto& w : workers_) {
    signals.emplace_back([worker = w.get()] { worker->Shutdown(); });
  }
  for (auto& t : signals) t.join();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace qg
