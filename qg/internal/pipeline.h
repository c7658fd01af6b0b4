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

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libpq-fe.h"
#include "qg/clock.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"

namespace qg::internal {

// ReadWatch
//
// What other threads may know of a connection's input while one thread
// reads it: whether bytes were taken off the socket and not all parsed yet,
// and whether the server's last words (a FATAL or PANIC, as a notice or as
// a statement's error) were parsed. A thread that peeks at the socket to
// learn whether the server is ending the session (the pool's workers) reads
// `reads` before and after its peek: an even, unchanged count means no byte
// it did not see was in the reader's hands unparsed.
struct ReadWatch {
  // Odd from just before the reader takes bytes off the socket until it has
  // parsed every complete message among them. Written by the reader only.
  std::atomic<uint64_t> reads{0};
  // Set the moment the server's FATAL or PANIC is parsed, before the reader
  // acts on it: the session's locks are going.
  std::atomic<bool> ending{false};
  // Set by a peeking thread that found the reader's bytes unparsed and is
  // about to wait for them; the reader's next Parsed() clears it and calls
  // `wake`. (The peeker sets it, then reads `reads` again: either it sees
  // the count move, or the reader sees the flag.)
  mutable std::atomic<bool> waiters{false};
  // Called by the reader's thread when it clears `waiters`. Set before the
  // reader starts; it must not need anything the reader holds while it
  // reads.
  std::function<void()> wake;

  // The reader is about to take bytes off the socket.
  void Reading() {
    const uint64_t r = reads.load(std::memory_order_relaxed);
    if (r % 2 == 0) reads.store(r + 1);
  }
  // Everything the reader took is parsed: a thread waiting for that is
  // woken now, not when the reader is done with its round trip.
  void Parsed() {
    const uint64_t r = reads.load(std::memory_order_relaxed);
    if (r % 2 == 1) {
      reads.store(r + 1);
      if (waiters.load() && waiters.exchange(false) && wake) wake();
    }
  }
};

// Whether `result` is the server's FATAL or PANIC: it ends the session.
bool IsServerEnding(const PGresult* result);

class Pipeline {
 public:
  // Begin()
  //
  // Enters pipeline mode on `conn` (idle, not in a transaction). Deadlines
  // are read on `clock`. With a `watch`, the pipeline tells it of each read
  // off the socket and of the server's last words among the results (see
  // `ReadWatch`); it must outlive the pipeline.
  static absl::StatusOr<Pipeline> Begin(PGconn* conn,
                                        const Clock& clock = RealClock(),
                                        ReadWatch* watch = nullptr);

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

  // set_watch()
  //
  // Replaces the watch (nullptr: none). A caller that reads a result and
  // then parses more of the same input itself detaches it meanwhile, so that
  // the last result read does not report everything parsed too early.
  void set_watch(ReadWatch* watch) { watch_ = watch; }

  int pending() const { return static_cast<int>(sent_.size()); }
  bool poisoned() const { return poisoned_; }

 private:
  Pipeline(PGconn* conn, const Clock* clock, ReadWatch* watch)
      : conn_(conn), clock_(clock), watch_(watch) {}
  // Reads input until a result is ready without blocking, or `deadline`.
  absl::Status AwaitResult(absl::Time deadline);
  absl::Status Poison(absl::Status status);
  // Takes what the socket holds (PQconsumeInput), telling the watch first.
  bool ConsumeInput();
  // A result was parsed: the watch hears if it is the server's last words.
  void Saw(const PGresult* result);

  PGconn* conn_;
  const Clock* clock_;
  ReadWatch* watch_;
  std::deque<const char*> sent_;  // names of calls whose results are unread
  bool poisoned_ = false;
  bool finished_ = false;
};

}  // namespace qg::internal

#endif  // QG_INTERNAL_PIPELINE_H_
