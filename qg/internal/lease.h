// qg/internal/lease.h
// -----------------------------------------------------------------------------
//
// A job's lease: what entitles a `qg::Job` to run and finish its row (its
// advisory lock) and where its connection comes from. `Job` owns one and
// knows nothing else of how it was locked:
//   - `SessionLease` (the qg-compatible path, `Client::LockJob`, synchronous
//     mode): a pooled connection whose session holds the job's advisory lock;
//     the verbs write on it and `End` unlocks it.
//   - the fast path's batched lease (qg/worker/fast_pool.cc): the pool's
//     locker session holds the lock; default completions are handed to the
//     locker, which writes them in batches and then unlocks.
#ifndef QG_INTERNAL_LEASE_H_
#define QG_INTERNAL_LEASE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libpq-fe.h"
#include "qg/internal/conn_pool.h"
#include "qg/internal/job_counter.h"
#include "qg/internal/queries.h"
#include "qg/job_end.h"
#include "qg/logger.h"

namespace qg::internal {

// Outcome
//
// What a job's verbs decided, for its lease to apply when the job is done.
struct Outcome {
  enum class Kind {
    kRelease,  // nothing left to write (written already, or left as it is)
    kDelete,   // delete the row, then release
    kError,    // record `error` (a failure, or a cancellation), then release
    kSnooze,   // move run_at `snooze` ahead, then release
  };
  Kind kind = Kind::kRelease;
  JobError error;         // kError only
  absl::Duration snooze;  // kSnooze only
  // How the job ended, whatever is left to write (for counts).
  JobEnd end = JobEnd::kReleased;
  // For its history record (kDelete, kError): when its run started and
  // ended (the verb's call), and the output its handler set.
  std::chrono::steady_clock::time_point run_started;
  std::chrono::steady_clock::time_point run_ended;
  std::optional<std::string> output;
};

// JobLease
class JobLease {
 public:
  virtual ~JobLease() = default;

  // The connection for the job's own queries (`Job::Conn()`); null when none
  // can be had. Called under the job's lock, never after `End`.
  virtual PGconn* Conn() = 0;

  // True when the default `Delete()`/`Error()` without an open transaction
  // should not write now but leave the write to `End` (batched).
  virtual bool BatchesWrites() const = 0;

  // Ends the lease, once: applies `outcome` (batched leases) and releases the
  // job's lock. `row` is the job's row as it was locked.
  virtual void End(const JobRow& row, Outcome outcome) = 0;

  // RunRelocked()
  //
  // For a lease whose session died under the job (a terminated backend, a
  // DBA's idle_in_transaction_session_timeout): runs `write` on a fresh
  // session that takes the job's lock again first, as any worker would, and
  // releases it after. `Aborted` when another worker holds the job now
  // (then it is theirs); `FailedPrecondition` when the lease cannot.
  virtual absl::Status RunRelocked(
      const JobRow& /*row*/,
      const std::function<absl::Status(PGconn*)>& /*write*/) {
    return absl::FailedPreconditionError("the lease cannot lock the job again");
  }
};

// SessionLease
//
// The job's advisory lock is held by the session of `conn` (when `locked`);
// `End` unlocks it and returns the connection to its pool, or closes it when
// the unlock failed (the session may be broken). A lost lock is logged: the
// job may have run elsewhere meanwhile. It shares ownership of the pool (in
// `conn`) and of the counter, so a job may outlive the `Client` that locked
// it; `logger` must outlive the lease (the client's options say so).
class SessionLease : public JobLease {
 public:
  // `counter` (may be null) counts how the job ended.
  // `limit_locks`: the slot locks of the job's limits (qg_limits), which
  // the session holds beside the job's lock and `End` releases after it.
  SessionLease(PooledConn conn, bool locked, Logger* logger,
               std::shared_ptr<JobCounter> counter = nullptr,
               std::vector<int64_t> limit_locks = {})
      : conn_(std::move(conn)),
        locked_(locked),
        logger_(logger),
        counter_(std::move(counter)),
        limit_locks_(std::move(limit_locks)) {}
  PGconn* Conn() override { return conn_.get(); }
  bool BatchesWrites() const override { return false; }
  void End(const JobRow& row, Outcome outcome) override;
  absl::Status RunRelocked(
      const JobRow& row,
      const std::function<absl::Status(PGconn*)>& write) override;

 private:
  PooledConn conn_;
  const bool locked_;
  bool session_lost_ = false;  // RunRelocked() closed the dead session
  Logger* logger_;
  const std::shared_ptr<JobCounter> counter_;
  const std::vector<int64_t> limit_locks_;
};

// A lease that holds no lock and no connection (a job built for a unit test,
// or one enqueued and run inside the caller's transaction, where nobody else
// can see the row yet).
class NoLease : public JobLease {
 public:
  PGconn* Conn() override { return nullptr; }
  bool BatchesWrites() const override { return false; }
  void End(const JobRow&, Outcome) override {}
};

}  // namespace qg::internal

#endif  // QG_INTERNAL_LEASE_H_
