#include "qg/worker/fast_pool.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "qg/internal/sql.h"
#include "qg/internal/sync.h"
#include "qg/worker/watchdog.h"

namespace qg::internal {
namespace {

// Results of one query inside a pipeline.
absl::StatusOr<Result> ReadPipelined(PGconn* conn, const char* what) {
  Result result(PQgetResult(conn));
  absl::Status status = StatusFromResult(conn, result.get(), what);
  // Drain to the end of this query (NULL), then its sync.
  while (PGresult* extra = PQgetResult(conn)) PQclear(extra);
  Result sync(PQgetResult(conn));
  if (status.ok() && (sync.get() == nullptr ||
                      PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC)) {
    status = StatusFromResult(conn, sync.get(), what);
    if (status.ok()) status = absl::InternalError("pipeline out of step");
  }
  if (!status.ok()) return status;
  return result;
}

absl::Status SendPrepared(PGconn* conn, const char* name,
                          const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  if (PQsendQueryPrepared(conn, name, static_cast<int>(values.size()),
                          values.data(), nullptr, nullptr, 0) != 1 ||
      PQpipelineSync(conn) != 1) {
    return absl::UnavailableError(
        absl::StrCat("sending ", name, ": ", PQerrorMessage(conn)));
  }
  return absl::OkStatus();
}

}  // namespace

FastPool::FastPool(Client* client, const WorkMap* work_map,
                   FastPoolOptions options, Watchdog* watchdog)
    : client_(client),
      work_map_(work_map),
      options_(std::move(options)),
      hooks_(client->hooks_),
      logger_(&client->logger()),
      watchdog_(watchdog) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

FastPool::~FastPool() {
  Shutdown();
  if (wake_fd_ >= 0) close(wake_fd_);
}

absl::Status FastPool::ConnectLocker() {
  locker_.reset();
  absl::StatusOr<ConnPtr> conn = Connect(client_->options().conninfo);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<Result> has_fn = Exec(
      conn->get(),
      "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'qg_lock_job')");
  if (!has_fn.ok()) return has_fn.status();
  if (has_fn->Get(0, 0) != "t") {
    return absl::FailedPreconditionError(
        "the database lacks qg_lock_job() for the fast worker path: run `qg "
        "migrate` (or apply schema/qg_additions.sql)");
  }
  for (auto [name, text] :
       {std::pair{sql::kLockBatchName, sql::kLockBatch},
        std::pair{sql::kLockCandidatesName, sql::kLockCandidates},
        std::pair{sql::kDeleteBatchName, sql::kDeleteBatch},
        std::pair{sql::kErrorBatchName, sql::kErrorBatch},
        std::pair{sql::kUnlockBatchName, sql::kUnlockBatch},
        std::pair{sql::kNextRunAtName, sql::kNextRunAt}}) {
    if (absl::Status s = Prepare(conn->get(), name, text); !s.ok()) return s;
  }
  // The locker session runs only qg's statements. Planner statistics of a
  // queue table are often stale (analyzed while empty, then bulk-loaded):
  // rule out plans that sort or bitmap-scan the whole queue to find its
  // first N jobs, so the lock query always walks the primary key.
  if (absl::Status s = ExecSimple(conn->get(),
                                  "SET enable_seqscan = off; "
                                  "SET enable_bitmapscan = off; "
                                  "SET enable_sort = off")
                           .status();
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ExecSimple(conn->get(), absl::StrCat("LISTEN ", sql::kNotifyChannel))
              .status();
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Result> next =
      ExecPrepared(conn->get(), sql::kNextRunAtName, {options_.queue});
  if (!next.ok()) return next.status();
  double t = 0;
  if (!next->IsNull(0, 0) && absl::SimpleAtod(next->Get(0, 0), &t)) {
    next_due_ =
        std::min(next_due_, absl::FromUnixMicros(std::llround(t * 1e6)));
  }
  locker_ = std::move(*conn);
  ++generation_;
  queue_may_have_work_ = true;
  return absl::OkStatus();
}

absl::Status FastPool::Start() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (started_) return absl::OkStatus();
  }
  if (wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  if (absl::Status s = ConnectLocker(); !s.ok()) return s;
  std::unique_lock<std::mutex> lock(mu_);
  started_ = true;
  locker_thread_ = std::thread([this] { LockerLoop(); });
  workers_running_ = options_.workers;
  for (int i = 0; i < options_.workers; ++i) {
    worker_threads_.emplace_back([this] { WorkerLoop(); });
  }
  return absl::OkStatus();
}

void FastPool::Shutdown(absl::Time deadline) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!started_) return;
    stopping_ = true;
  }
  work_cv_.notify_all();
  Wake();
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!WaitUntil(idle_cv_, lock, deadline,
                   [this] { return workers_running_ == 0; })) {
      watchdog_->CancelAll();
    }
  }
  for (std::thread& t : worker_threads_) {
    if (t.joinable()) t.join();
  }
  if (locker_thread_.joinable()) locker_thread_.join();
  locker_.reset();
}

void FastPool::Wake() {
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof(one));
  (void)n;
}

void FastPool::Finish(Completion completion) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    completions_.push_back(std::move(completion));
  }
  Wake();
}

void FastPool::WorkerLoop() {
  while (true) {
    std::unique_ptr<Job> job;
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return !ready_.empty() || stopping_; });
      if (ready_.empty()) {  // stopping, nothing left
        --workers_running_;
        idle_cv_.notify_all();
        return;
      }
      job = std::move(ready_.front());
      ready_.pop_front();
      stopping = stopping_;
    }
    if (stopping) {
      job->Done();  // not started: just release its lock
      continue;
    }
    PerformJob(*job, *work_map_, *logger_, watchdog_).IgnoreError();
  }
}

std::unique_ptr<Job> FastPool::MakeJob(const Result& r, int row) {
  auto job = std::unique_ptr<Job>(new Job);
  if (absl::Status s = job->LoadRow([&](int c) -> std::optional<std::string> {
        return r.GetOptional(row, c);
      });
      !s.ok()) {
    logger_->Log(LogLevel::kError, absl::StrCat("qg: ", s.ToString()));
    return nullptr;
  }
  job->hooks_ = hooks_;
  job->sink_ = this;
  job->conn_source_ = client_->pool_;
  job->acquire_timeout_ = client_->options().acquire_timeout;
  job->completion_.generation = generation_;
  return job;
}

absl::Status FastPool::RunCycle(std::vector<Completion> completions, int want,
                                bool query_next_due) {
  PGconn* conn = locker_.get();
  std::vector<std::string> del[4], err[7], unlock;
  std::vector<int64_t> finished;
  absl::Time now = absl::Now();
  for (const Completion& c : completions) {
    finished.push_back(c.id);
    if (c.generation != generation_) {
      // The lock died with an earlier locker session: another worker may
      // hold the job now, so it is not ours to delete or fail. It runs again.
      logger_->Log(LogLevel::kError,
                   absl::StrCat("qg: job ", c.id,
                                " finished after its lock was lost with the "
                                "locker session; leaving it to run again"));
      continue;
    }
    unlock.push_back(absl::StrCat(c.id));
    std::vector<std::string>* key = c.kind == Completion::Kind::kDelete ? del
                                    : c.kind == Completion::Kind::kError
                                        ? err
                                        : nullptr;
    if (key == nullptr) continue;
    key[0].push_back(c.queue);
    key[1].push_back(absl::StrCat(c.priority));
    key[2].push_back(c.run_at_text);
    key[3].push_back(absl::StrCat(c.id));
    if (c.kind == Completion::Kind::kError) {
      err[4].push_back(absl::StrCat(c.new_error_count));
      err[5].push_back(c.delay == absl::InfiniteDuration()
                           ? std::string("Infinity")
                           : absl::StrCat(absl::ToDoubleSeconds(c.delay)));
      err[6].push_back(c.message);
      if (c.delay != absl::InfiniteDuration()) {
        next_due_ = std::min(next_due_, now + c.delay);
      }
    }
  }
  std::vector<std::string> held;
  {
    std::unique_lock<std::mutex> lock(mu_);
    for (int64_t id : finished) held_.erase(id);
    for (int64_t id : held_) held.push_back(absl::StrCat(id));
  }

  auto arrays = [](std::vector<std::string>* cols, int n) {
    std::vector<std::string> params;
    for (int i = 0; i < n; ++i) params.push_back(ArrayLiteral(cols[i]));
    return params;
  };
  if (PQenterPipelineMode(conn) != 1) {
    return absl::UnavailableError(
        absl::StrCat("entering pipeline mode: ", PQerrorMessage(conn)));
  }
  std::vector<const char*> sent;
  absl::Status s;
  if (s.ok() && !del[0].empty()) {
    s = SendPrepared(conn, sql::kDeleteBatchName, arrays(del, 4));
    sent.push_back(sql::kDeleteBatchName);
  }
  if (s.ok() && !err[0].empty()) {
    s = SendPrepared(conn, sql::kErrorBatchName, arrays(err, 7));
    sent.push_back(sql::kErrorBatchName);
  }
  if (s.ok() && !unlock.empty()) {
    s = SendPrepared(conn, sql::kUnlockBatchName, {ArrayLiteral(unlock)});
    sent.push_back(sql::kUnlockBatchName);
  }
  const char* lock_query =
      contended_ ? sql::kLockBatchName : sql::kLockCandidatesName;
  if (s.ok() && want > 0) {
    s = SendPrepared(
        conn, lock_query,
        {options_.queue, absl::StrCat("{", absl::StrJoin(held, ","), "}"),
         absl::StrCat(want)});
    sent.push_back(lock_query);
  }
  if (s.ok() && query_next_due) {
    s = SendPrepared(conn, sql::kNextRunAtName, {options_.queue});
    sent.push_back(sql::kNextRunAtName);
  }
  if (s.ok() && PQflush(conn) != 0) {
    s = absl::UnavailableError(absl::StrCat("flush: ", PQerrorMessage(conn)));
  }
  absl::Status first_error = s;
  int locked = -1, candidates = -1;
  for (const char* name : sent) {
    if (!s.ok()) break;
    absl::StatusOr<Result> r = ReadPipelined(conn, name);
    if (!r.ok()) {
      if (first_error.ok()) first_error = r.status();
      if (PQstatus(conn) != CONNECTION_OK) break;
      continue;
    }
    if (name == sql::kUnlockBatchName && r->Get(0, 0) != "0") {
      logger_->Log(LogLevel::kError,
                   absl::StrCat("qg: ", r->Get(0, 0),
                                " finished job(s) were no longer locked by "
                                "the locker session"));
    } else if (name == lock_query) {
      bool flat = name == sql::kLockCandidatesName;
      candidates = r->rows();
      std::vector<std::unique_ptr<Job>> jobs;
      for (int i = 0; i < r->rows(); ++i) {
        if (flat && r->Get(i, 8) != "t") continue;  // another worker has it
        if (auto job = MakeJob(*r, i)) jobs.push_back(std::move(job));
      }
      locked = static_cast<int>(jobs.size());
      {
        std::unique_lock<std::mutex> lock(mu_);
        for (auto& job : jobs) {
          held_.insert(job->id());
          ready_.push_back(std::move(job));
        }
      }
      work_cv_.notify_all();
    } else if (name == sql::kNextRunAtName) {
      double t = 0;
      if (!r->IsNull(0, 0) && absl::SimpleAtod(r->Get(0, 0), &t)) {
        next_due_ =
            std::min(next_due_, absl::FromUnixMicros(std::llround(t * 1e6)));
      }
      need_next_due_ = false;
    }
  }
  if (PQstatus(conn) == CONNECTION_OK) {
    PQexitPipelineMode(conn);
  } else if (!unlock.empty()) {
    // The session that held these jobs' locks is gone, and with it the
    // locks: what was not committed stays undone, and the jobs run again.
    logger_->Log(LogLevel::kError,
                 absl::StrCat("qg: locker session lost with ", unlock.size(),
                              " finished job(s) not yet recorded (ids ",
                              absl::StrJoin(unlock, ","),
                              "); their locks are gone and they will run "
                              "again"));
  }
  if (want > 0) {
    last_lock_ = now;
    if (candidates < 0) {
      queue_may_have_work_ = true;  // failed: try again
    } else {
      // A full batch of candidates means there may be more. Candidates that
      // another worker holds switch the next batch to the walking query.
      queue_may_have_work_ = candidates == want;
      contended_ = locked < candidates;
      if (candidates < want) need_next_due_ = true;
    }
  }
  return first_error;
}

void FastPool::WaitForWork(absl::Duration timeout) {
  struct pollfd fds[2] = {{wake_fd_, POLLIN, 0},
                          {locker_ ? PQsocket(locker_.get()) : -1, POLLIN, 0}};
  int ms = static_cast<int>(std::ceil(
      absl::ToDoubleMilliseconds(std::max(timeout, absl::ZeroDuration()))));
  int n = poll(fds, 2, ms);
  if (n > 0 && (fds[0].revents & POLLIN)) {
    uint64_t count;
    ssize_t r = read(wake_fd_, &count, sizeof(count));
    (void)r;
  }
}

void FastPool::LockerLoop() {
  while (true) {
    // NOTIFYs that arrived (while waiting or during the last round trip).
    if (locker_ != nullptr) {
      if (PQconsumeInput(locker_.get()) != 1) {
        logger_->Log(LogLevel::kError,
                     absl::StrCat("qg: locker connection lost: ",
                                  PQerrorMessage(locker_.get())));
        locker_.reset();
      }
      while (locker_ != nullptr) {
        PGnotify* n = PQnotifies(locker_.get());
        if (n == nullptr) break;
        std::pair<std::string, std::string> payload =
            absl::StrSplit(n->extra, absl::MaxSplits('\t', 1));
        if (payload.second == options_.queue) {
          double t = 0;
          absl::Time at = absl::SimpleAtod(payload.first, &t)
                              ? absl::FromUnixMicros(std::llround(t * 1e6))
                              : absl::Now();
          if (at <= absl::Now()) {
            queue_may_have_work_ = true;
          } else {
            next_due_ = std::min(next_due_, at);
          }
        }
        PQfreemem(n);
      }
    }

    std::vector<Completion> completions;
    bool stopping;
    int free;
    {
      std::unique_lock<std::mutex> lock(mu_);
      completions.swap(completions_);
      stopping = stopping_;
      free = options_.workers + options_.buffer -
             static_cast<int>(held_.size()) +
             static_cast<int>(completions.size());
      // Lock in batches: once half the buffer has room, or when the workers
      // are about to run dry.
      if (free < options_.buffer / 2 + 1 &&
          static_cast<int>(ready_.size()) >= options_.workers) {
        free = 0;
      }
    }
    if (locker_ == nullptr) {
      if (stopping) break;  // the locks died with the session
      absl::Status s = ConnectLocker();
      if (!s.ok()) {
        logger_->Log(
            LogLevel::kError,
            absl::StrCat("qg: locker connection: ", s.ToString(),
                         "; retrying in ",
                         absl::FormatDuration(options_.reconnect_delay)));
        {
          std::unique_lock<std::mutex> lock(mu_);
          completions_.insert(completions_.end(), completions.begin(),
                              completions.end());
        }
        WaitForWork(options_.reconnect_delay);
        continue;
      }
    }
    absl::Time now = absl::Now();
    if (now >= next_due_) {
      queue_may_have_work_ = true;
      next_due_ = absl::InfiniteFuture();
    }
    if (now - last_lock_ >= options_.poll_interval) queue_may_have_work_ = true;
    int want = (!stopping && queue_may_have_work_ && free > 0) ? free : 0;
    bool next_due = need_next_due_ && !stopping;
    if (!completions.empty() || want > 0 || next_due) {
      absl::Status s = RunCycle(std::move(completions), want, next_due);
      if (!s.ok()) {
        logger_->Log(LogLevel::kError,
                     absl::StrCat("qg: worker pool: ", s.ToString()));
        if (PQstatus(locker_.get()) != CONNECTION_OK) locker_.reset();
      }
      continue;
    }
    if (stopping) {
      std::unique_lock<std::mutex> lock(mu_);
      if (held_.empty() && completions_.empty()) break;
    }
    absl::Duration timeout =
        std::min(options_.poll_interval - (now - last_lock_), next_due_ - now);
    WaitForWork(timeout);
  }
}

}  // namespace qg::internal
