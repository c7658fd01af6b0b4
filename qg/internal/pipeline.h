// qg/internal/pipeline.h
// -----------------------------------------------------------------------------
//
// `Pipeline`: libpq's pipeline mode as a scoped object. Calls are sent back to
// back, each followed by a sync point (so each runs as its own implicit
// transaction and an error in one does not abort the others), flushed once,
// and their results read in order with a deadline. A pipeline whose results
// were not all read (an error, a deadline, a broken connection) leaves its
// connection "poisoned": the owner must close it, never reuse it.
//
// Example:
//   QG_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Begin(conn));
//   QG_RETURN_IF_ERROR(p.Send(queries::UnlockBatch(ids)));
//   QG_RETURN_IF_ERROR(p.Send(queries::NextDue(queue)));
//   QG_RETURN_IF_ERROR(p.Flush(deadline));
//   absl::StatusOr<PgResult> unlocked = p.Next(deadline);
//   absl::StatusOr<PgResult> due = p.Next(deadline);
//   if (!p.Finish()) DiscardConnection();
#ifndef QG_INTERNAL_PIPELINE_H_
#define QG_INTERNAL_PIPELINE_H_

#include <deque>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libpq-fe.h"
#include "qg/clock.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"

namespace qg::internal {

class Pipeline {
 public:
  // Begin()
  //
  // Enters pipeline mode on `conn` (idle, not in a transaction). Deadlines
  // are read on `clock`.
  static absl::StatusOr<Pipeline> Begin(PGconn* conn,
                                        const Clock& clock = RealClock());

  Pipeline(Pipeline&& other) noexcept;
  Pipeline& operator=(Pipeline&&) = delete;
  // Calls `Finish()`.
  ~Pipeline();

  // Send()
  //
  // Queues the prepared statement of `call`, then a sync point.
  absl::Status Send(const Call& call);

  // Flush()
  //
  // Writes everything queued to the server, waiting for the socket up to
  // `deadline`.
  absl::Status Flush(absl::Time deadline);

  // Next()
  //
  // The result of the next call sent, in order, waiting up to `deadline`. A
  // failed statement gives its error status and the pipeline goes on; a
  // broken connection or a passed deadline gives `Unavailable` /
  // `DeadlineExceeded` and poisons the pipeline (later calls fail at once).
  absl::StatusOr<PgResult> Next(absl::Time deadline);

  // Finish()
  //
  // Leaves pipeline mode when every result was read and the connection is
  // sound, and returns true; otherwise returns false: the connection is
  // poisoned and must be closed. Idempotent.
  bool Finish();

  int pending() const { return static_cast<int>(sent_.size()); }
  bool poisoned() const { return poisoned_; }

 private:
  Pipeline(PGconn* conn, const Clock* clock) : conn_(conn), clock_(clock) {}
  // Reads input until a result is ready without blocking, or `deadline`.
  absl::Status AwaitResult(absl::Time deadline);
  absl::Status Poison(absl::Status status);

  PGconn* conn_;
  const Clock* clock_;
  std::deque<const char*> sent_;  // names of calls whose results are unread
  bool poisoned_ = false;
  bool finished_ = false;
};

}  // namespace qg::internal

#endif  // QG_INTERNAL_PIPELINE_H_
