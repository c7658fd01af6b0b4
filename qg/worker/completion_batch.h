// qg/worker/completion_batch.h
// -----------------------------------------------------------------------------
//
// The fast pool's completions between "the handler is done" and "the job's
// lock is released" (internal). Pure: no I/O, no clock; the locker session
// sends what `Next()` asks for and reports back through `Apply()`.
//
// A completion's life:
//   1. write: kDelete deletes the row, kError records the failure, both by the
//      row's key; a key that changed while the job ran (nothing returned for
//      it) is written again by id, so a finished row never survives;
//   2. release: only after its write committed (an earlier round trip), the
//      advisory lock is released. A job is never unlocked before its outcome
//      is durable, so a write that fails cannot make it run again at once.
// Job history: writes by key use the statements that record history until
// one says that history is off for the rows' queues, then their plain
// forms, which cost nothing for history and check in the same statement
// that it is still off (if not, they write nothing and the rows are
// written again, recording). Writes by id always record.
// A write statement that fails (not the connection) does not lose the other
// rows: its rows are retried one statement each; an error message that still
// fails is retried in plain ASCII; a row that fails three times is released
// unwritten and reported (it will run again: at-least-once). Completions of
// an older locker session are dropped and reported: their locks died with
// that session, so another worker may hold the job now.
#ifndef QG_WORKER_COMPLETION_BATCH_H_
#define QG_WORKER_COMPLETION_BATCH_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "qg/internal/lease.h"
#include "qg/internal/queries.h"

namespace qg::internal {

// Completion
//
// How a job of the fast path ended.
struct Completion {
  JobKey key;
  uint64_t generation = 0;  // the locker session that held its lock
  Outcome outcome;
};

class CompletionBatch {
 public:
  // A write statement of the next round trip and the ids it covers.
  struct Write {
    Call call;
    std::vector<int64_t> ids;
  };
  struct Request {
    std::vector<Write> writes;
    std::vector<int64_t> unlock;  // released in this round trip
    bool empty() const { return writes.empty() && unlock.empty(); }
  };
  // What became of a request: per write, the ids the statement returned (or
  // its error); whether the unlock ran.
  struct Response {
    std::vector<absl::StatusOr<std::vector<int64_t>>> writes;
    absl::Status unlock;
  };
  // What a write returns beside its ids (never job ids): a plain write
  // found history on and wrote nothing; a history-writing one found it off
  // for every queue of its rows.
  static constexpr int64_t kHistoryOn = -1;
  static constexpr int64_t kHistoryOff = -2;

  // Rows given up on after repeated failures, for the log.
  struct GivenUp {
    int64_t id;
    std::string why;
  };

  // Add()
  //
  // Takes finished jobs. Those of a session other than `generation` are
  // dropped and returned.
  std::vector<Completion> Add(std::vector<Completion> completions,
                              uint64_t generation);

  // Next()
  //
  // The writes and releases the next round trip should carry (empty when
  // there is nothing to do). `now`: when it is sent, for the history
  // records' run times (qg/internal/sql/finish_batch.sql).
  Request Next(std::chrono::steady_clock::time_point now =
                   std::chrono::steady_clock::now()) const;

  // Apply()
  //
  // Records what `request` (the last `Next()`) achieved. Returns the rows
  // given up on.
  std::vector<GivenUp> Apply(const Request& request, const Response& response);

  // DropAll()
  //
  // The session is gone, and with it every lock: forgets everything and
  // returns the ids that were not released normally.
  std::vector<int64_t> DropAll();

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }

  // The ids this batch still holds locks of.
  std::vector<int64_t> HeldIds() const;

 private:
  enum class Stage { kByKey, kById, kRelease };
  struct Item {
    Completion completion;
    Stage stage = Stage::kByKey;
    int failures = 0;  // failed statements this row was part of
  };
  static constexpr int kMaxFailures = 3;

  std::vector<Item> items_;
  // Whether the next writes by key record history (qg_finish_batch,
  // qg_error_batch) or not (their _plain forms, which check in the same
  // statement that history is off): as the last write found it; at first,
  // the history-writing form, which works either way.
  bool history_ = true;
};

}  // namespace qg::internal

#endif  // QG_WORKER_COMPLETION_BATCH_H_
