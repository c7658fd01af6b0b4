#include "qg/internal/job_ops.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "qg/internal/pg.h"
#include "qg/job_end.h"

namespace qg::internal {
namespace {

// Rows are changed in autocommit mode, so that each change has committed
// before its unlock: a connection left inside a transaction would break that.
absl::Status CheckNoTransaction(PooledConn& conn) {
  if (PQtransactionStatus(conn.get()) != PQTRANS_IDLE) {
    return absl::InternalError(
        "an operator's change needs a connection outside any transaction");
  }
  return absl::OkStatus();
}

// Runs `change` on `conn` under job `id`'s lock; `change` returns the rows it
// changed.
template <typename Change>
absl::Status UnderLock(PooledConn& conn, int64_t id, Change change) {
  if (absl::Status s = CheckNoTransaction(conn); !s.ok()) return s;
  absl::StatusOr<PgResult> locked = Run(conn.get(), queries::TryLockJob(id));
  if (!locked.ok()) return locked.status();
  if (locked->Get(0, 0) != "t") return JobHeldError(id);
  absl::StatusOr<int64_t> changed = change();
  // The change committed (or failed and changed nothing): unlock now.
  absl::StatusOr<PgResult> unlocked = Run(conn.get(), queries::UnlockJob(id));
  if (!unlocked.ok() || unlocked->Get(0, 0) != "t") {
    conn.Discard();  // closing the session releases whatever it holds
  }
  if (!changed.ok()) return changed.status();
  if (*changed == 0) {
    return absl::NotFoundError(absl::StrCat("no job with ID ", id));
  }
  return absl::OkStatus();
}

// `tally` reads the change's result into the outcome's `changed` (and
// `cancelled`); what was locked but neither is `moved`.
template <typename ChangeCall, typename Tally>
absl::StatusOr<BatchOutcome> KeysUnderLock(PooledConn& conn,
                                           absl::Span<const JobKey> keys,
                                           ChangeCall change_call,
                                           Tally tally) {
  BatchOutcome out;
  if (keys.empty()) return out;
  if (absl::Status s = CheckNoTransaction(conn); !s.ok()) return s;
  std::vector<int64_t> ids;
  ids.reserve(keys.size());
  for (const JobKey& k : keys) ids.push_back(k.id);
  absl::StatusOr<PgResult> locked = Run(conn.get(), queries::TryLockBatch(ids));
  if (!locked.ok()) {
    conn.Discard();  // some locks may have been taken before the failure
    return locked.status();
  }
  absl::StatusOr<std::vector<int64_t>> locked_ids = ReadIds(*locked, 0);
  if (!locked_ids.ok()) {
    conn.Discard();
    return locked_ids.status();
  }
  absl::flat_hash_set<int64_t> mine(locked_ids->begin(), locked_ids->end());
  std::vector<JobKey> lockable;
  for (const JobKey& k : keys) {
    if (mine.contains(k.id)) lockable.push_back(k);
  }
  out.held = static_cast<int64_t>(keys.size() - lockable.size());
  if (lockable.empty()) return out;
  absl::StatusOr<PgResult> changed = Run(conn.get(), change_call(lockable));
  absl::StatusOr<PgResult> unlocked =
      Run(conn.get(), queries::UnlockBatch(*locked_ids));
  if (!unlocked.ok() || unlocked->Get(0, 0) != "0") conn.Discard();
  if (!changed.ok()) return changed.status();
  if (absl::Status s = tally(*changed, out); !s.ok()) return s;
  out.moved =
      static_cast<int64_t>(lockable.size()) - out.changed - out.cancelled;
  return out;
}

}  // namespace

namespace {

// The longest a cancel request lives in the database: a longer wait asks
// again when it expires (see CancelJob).
constexpr absl::Duration kMaxRequestLife = absl::Hours(1);
// How often the requester looks for the holder's acknowledgement.
constexpr absl::Duration kAckPoll = absl::Milliseconds(20);

absl::Status CancelTableError(const absl::Status& s) {
  std::string state = SqlState(s);
  if (state == "42P01" || state == "42703") {
    // No qg_cancellations, or one of an earlier qg-cpp (no run columns).
    return absl::FailedPreconditionError(
        "cancelling a running job needs qg_cancellations as this qg-cpp "
        "writes it: run `qg migrate`");
  }
  return s;
}

absl::Status HeldByAnotherKindOfWorker(int64_t id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "job ", id,
      " is held by a worker that takes no cancel requests (a Ruby Que, "
      "que-go or qg worker, or one of an older qg-cpp): it cannot be "
      "cancelled while it runs; try again when it is done"));
}

absl::Status Interrupted(int64_t id) {
  return absl::AbortedError(
      absl::StrCat("interrupted: job ", id,
                   " was not cancelled (the cancel request was withdrawn)"));
}

// Forgets job `id`'s request unless its holder took it: true when it was
// withdrawn, false when the holder had acknowledged it (it is stopping the
// job; the row is deleted all the same).
absl::StatusOr<bool> Withdraw(PooledConn& conn, int64_t id) {
  absl::StatusOr<PgResult> withdrawn =
      Run(conn.get(), queries::WithdrawCancel(id, /*acknowledged_too=*/false));
  if (!withdrawn.ok()) return withdrawn.status();
  if (withdrawn->rows() == 1) return true;
  Run(conn.get(), queries::WithdrawCancel(id, /*acknowledged_too=*/true))
      .IgnoreError();
  return false;
}

}  // namespace

absl::StatusOr<CancelOutcome> CancelJob(
    PooledConn& conn, int64_t id, absl::Duration wait,
    const std::function<bool()>& interrupted) {
  auto stop = [&] { return interrupted != nullptr && interrupted(); };
  const absl::Time deadline = absl::Now() + wait;
  bool asked_once = false;
  absl::StatusOr<bool> history = MayRecordHistory(conn.get());
  if (!history.ok()) return history.status();
  while (true) {
    absl::Status unheld = UnderLock(conn, id, [&]() -> absl::StatusOr<int64_t> {
      std::string message =
          absl::StrCat(kCancelledMarker, ": by an operator at ",
                       FormatTimestamp(absl::Now()));
      absl::StatusOr<PgResult> r =
          Run(conn.get(), *history ? queries::CancelUnheldHistory(id, message)
                                   : queries::CancelUnheld(id, message));
      if (!r.ok()) return r.status();
      return r->rows();
    });
    if (unheld.ok()) return CancelOutcome::kCancelled;
    if (unheld.code() != absl::StatusCode::kFailedPrecondition) return unheld;
    if (stop()) return Interrupted(id);
    if (asked_once && absl::Now() >= deadline)
      return HeldByAnotherKindOfWorker(id);
    // Held: ask its holder, for this run only and for as long as we wait; a
    // qg-cpp pool acknowledges within a moment.
    absl::Duration life =
        std::min(std::max(deadline - absl::Now(), absl::Milliseconds(1)),
                 kMaxRequestLife);
    absl::StatusOr<PgResult> asked =
        Run(conn.get(), queries::RequestCancel(id, life));
    if (!asked.ok()) return CancelTableError(asked.status());
    asked_once = true;
    if (asked->rows() == 0) {  // released meanwhile: cancel it as it is
      absl::SleepFor(kAckPoll);
      continue;
    }
    bool run_ended = false;
    while (!run_ended) {
      if (stop()) {
        absl::StatusOr<bool> withdrawn = Withdraw(conn, id);
        if (!withdrawn.ok()) return withdrawn.status();
        if (*withdrawn) return Interrupted(id);
        return CancelOutcome::kStopping;  // the holder took it first
      }
      if (absl::Now() >= deadline) break;
      absl::SleepFor(std::min(kAckPoll, deadline - absl::Now()));
      absl::StatusOr<PgResult> r =
          Run(conn.get(), queries::CancelAcknowledged(id));
      if (!r.ok()) return r.status();
      if (r->rows() == 1 && r->Get(0, 0) == "t") {
        Run(conn.get(), queries::WithdrawCancel(id, /*acknowledged_too=*/true))
            .IgnoreError();
        return CancelOutcome::kStopping;
      }
      // Gone (expired and cleaned up) or no longer live: the run it was
      // asked of ended (the job failed, finished or was released): look at
      // the job again.
      run_ended = r->rows() == 0 || r->Get(0, 1) != "t";
    }
    absl::StatusOr<bool> withdrawn = Withdraw(conn, id);
    if (!withdrawn.ok()) return withdrawn.status();
    if (!*withdrawn) return CancelOutcome::kStopping;  // taken meanwhile
    if (!run_ended) return HeldByAnotherKindOfWorker(id);
  }
}

absl::Status SetQueuePaused(PooledConn& conn, absl::string_view queue,
                            bool paused) {
  if (queue.empty()) {
    return absl::InvalidArgumentError(
        "a queue name is required (the default queue \"\" cannot be paused "
        "by name)");
  }
  if (absl::Status s = CheckNoNul("queue name", queue); !s.ok()) return s;
  absl::StatusOr<PgResult> r =
      Run(conn.get(), queries::SetPaused(queue, paused));
  if (!r.ok() && SqlState(r.status()) == "42P01") {
    return absl::FailedPreconditionError(
        "pausing a queue needs qg_queues: run `qg migrate`");
  }
  return r.status();
}

absl::StatusOr<std::vector<std::string>> PausedQueues(PooledConn& conn) {
  absl::StatusOr<PgResult> r = Run(conn.get(), queries::PausedQueues());
  if (!r.ok()) {
    if (SqlState(r.status()) == "42P01") return std::vector<std::string>{};
    return r.status();
  }
  std::vector<std::string> out;
  for (int i = 0; i < r->rows(); ++i) out.emplace_back(r->Get(i, 0));
  return out;
}

absl::StatusOr<bool> HasHistory(PGconn* conn) {
  absl::StatusOr<PgResult> r = Run(conn, queries::HasHistory());
  if (!r.ok()) return r.status();
  return r->Get(0, 0) == "t";
}

absl::StatusOr<int64_t> PruneHistory(PGconn* conn, int batch,
                                     absl::Duration budget) {
  absl::StatusOr<PgResult> cut = Run(conn, queries::HistoryPruneCut());
  if (!cut.ok()) return cut.status();
  if (cut->rows() == 0 || (cut->IsNull(0, 0) && cut->IsNull(0, 1))) return 0;
  const absl::Time give_up = absl::Now() + budget;
  int64_t pruned = 0;
  while (true) {
    absl::StatusOr<PgResult> r =
        Run(conn, queries::HistoryPrune(cut->GetOptional(0, 0),
                                        cut->GetOptional(0, 1),
                                        cut->GetOptional(0, 2), batch));
    if (!r.ok()) return r.status();
    int64_t n = 0;
    if (!absl::SimpleAtoi(r->Get(0, 0), &n)) {
      return absl::InternalError("qg_history_prune: not a count");
    }
    pruned += n;
    if (n < batch || absl::Now() >= give_up) break;
  }
  return pruned;
}

absl::StatusOr<bool> MayRecordHistory(PGconn* conn) {
  absl::StatusOr<PgResult> r = Run(conn, queries::HistoryPrivileges());
  if (!r.ok()) return r.status();
  return r->Get(0, 0) == "t";
}

absl::Status JobHeldError(int64_t id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "job ", id,
      " is being worked (a worker holds its lock: it is running, or locked "
      "ahead by a worker pool); try again when it is done"));
}

absl::Status RetryJobUnderLock(PooledConn& conn, int64_t id) {
  return RetryJobUnderLockDetailed(conn, id).status();
}

absl::StatusOr<RetryOutcome> RetryJobUnderLockDetailed(PooledConn& conn,
                                                       int64_t id) {
  RetryOutcome outcome;
  absl::StatusOr<bool> history = MayRecordHistory(conn.get());
  if (!history.ok()) return history.status();
  absl::Status s = UnderLock(conn, id, [&]() -> absl::StatusOr<int64_t> {
    absl::StatusOr<PgResult> r = Run(conn.get(), queries::RetryJob(id));
    if (!r.ok()) return r.status();
    if (r->rows() == 1) {
      outcome.was_dead = r->Get(0, 0) == "t";
      outcome.was_cancelled = r->Get(0, 1) == "t";
      return 1;
    }
    if (!*history) return 0;
    // Gone from que_jobs: a dead or cancelled job's history record brings
    // it back (under the same lock, so no worker takes it half-inserted).
    r = Run(conn.get(), queries::HistoryRevive(id));
    if (!r.ok()) return r.status();
    if (r->rows() == 1) {
      outcome.was_dead = true;
      outcome.was_cancelled = r->Get(0, 0) == "cancelled";
    }
    return r->rows();
  });
  if (!s.ok()) return s;
  return outcome;
}

absl::Status DeleteJobUnderLock(PooledConn& conn, int64_t id) {
  return UnderLock(conn, id, [&]() -> absl::StatusOr<int64_t> {
    std::vector<int64_t> one = {id};
    absl::StatusOr<PgResult> r = Run(conn.get(), queries::DeleteById(one));
    if (!r.ok()) return r.status();
    return r->rows();
  });
}

absl::StatusOr<BatchOutcome> RetryKeysUnderLock(PooledConn& conn,
                                                absl::Span<const JobKey> keys) {
  return KeysUnderLock(
      conn, keys,
      [](const std::vector<JobKey>& k) { return queries::RetryBatch(k); },
      [](const PgResult& r, BatchOutcome& out) {
        // (job_id, retried): false for a cancelled job, left alone.
        for (int i = 0; i < r.rows(); ++i) {
          ++(r.Get(i, 1) == "t" ? out.changed : out.cancelled);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<BatchOutcome> DeleteKeysUnderLock(
    PooledConn& conn, absl::Span<const JobKey> keys) {
  return KeysUnderLock(
      conn, keys,
      [](const std::vector<JobKey>& k) { return queries::DeleteBatch(k); },
      [](const PgResult& r, BatchOutcome& out) {
        out.changed = r.rows();
        return absl::OkStatus();
      });
}

}  // namespace qg::internal
