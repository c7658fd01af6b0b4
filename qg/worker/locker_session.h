// qg/worker/locker_session.h
// -----------------------------------------------------------------------------
//
// The fast pool's locker session (internal): the one connection that holds
// the advisory locks of a pool's jobs, and the only code of the pool that
// talks to libpq. It opens the session (forced settings, the lock function
// check, prepared statements, planner settings, LISTEN), runs each cycle as
// one pipelined round trip, and reads notifications. Any error that leaves
// the connection in doubt makes it unusable: the pool discards the session
// (and with it every lock it held) and opens a new one.
#ifndef QG_WORKER_LOCKER_SESSION_H_
#define QG_WORKER_LOCKER_SESSION_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qg/clock.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"
#include "qg/worker/wake_source.h"

namespace qg::internal {

class LockerSession {
 public:
  // A lock scan: up to `want` runnable jobs of `queue`, first after
  // `rewind` up to `after`, then after `after` (the head when nullopt), not
  // `held`, looking at no more than `max_scan`.
  struct Lock {
    std::string queue;
    std::vector<int64_t> held;
    int want = 0;
    int max_scan = 0;
    std::optional<JobKey> after;
    std::optional<JobKey> rewind;
  };
  // One round trip, sent in this order: unlock (jobs whose writes committed
  // earlier), writes, confirm, lock, next due.
  struct Request {
    std::vector<int64_t> ack_cancels;  // cancel requests of held jobs
    std::optional<Call> unlock;
    std::vector<Call> writes;
    std::vector<JobKey> confirm;
    std::optional<Lock> lock;
    std::optional<std::string> next_due_queue;
  };
  struct LockResult {
    std::vector<JobRow> rows;         // locked, in key order
    std::vector<int64_t> unreadable;  // locked but unparsable: release them
    int scanned = 0;                  // candidates the scan looked at
    bool exhausted = false;           // it reached the end of runnable jobs
    bool paused = false;              // the queue is paused: nothing locked
    // The last candidate it looked at after the cursor (the new cursor).
    std::optional<JobKey> last;
    // Where an unfinished rewind stopped (nullopt: the range was covered).
    std::optional<JobKey> rewind_stopped;
  };
  struct NextDue {
    std::optional<absl::Duration> due_in;  // by the database's clock
    std::optional<int16_t> priority;       // of that job
    // The database's clock minus ours (error within one round trip).
    absl::Duration clock_offset;
  };
  struct Response {
    // The cancel requests this session took (the others were withdrawn).
    absl::StatusOr<std::vector<int64_t>> acked = std::vector<int64_t>{};
    absl::Status unlock;
    int not_held = 0;  // ids the unlock found not held by this session
    std::vector<absl::StatusOr<std::vector<int64_t>>> writes;
    // Per confirmed id: still there under its key (else released).
    absl::StatusOr<std::vector<std::pair<int64_t, bool>>> confirm =
        std::vector<std::pair<int64_t, bool>>{};
    absl::StatusOr<LockResult> lock = LockResult{};
    absl::StatusOr<NextDue> next_due = NextDue{};
    absl::Time sent_at;
    absl::Time received_at;
    // A statement failed (the connection is fine): back off.
    bool any_failed = false;
  };

  // Open()
  //
  // Opens a session on `conninfo` whose statements the server cancels past
  // `statement_timeout`. `FailedPrecondition` when the database lacks
  // qg_lock_jobs() (`qg migrate` adds it).
  static absl::StatusOr<std::unique_ptr<LockerSession>> Open(
      const std::string& conninfo, absl::Duration statement_timeout,
      const Clock& clock);

  // Run()
  //
  // Runs `request` as one pipelined round trip, waiting up to `timeout`.
  // An error return means the connection is in doubt: discard the session.
  // Errors of single statements are in the response.
  absl::StatusOr<Response> Run(const Request& request, absl::Duration timeout);

  // Poll()
  //
  // Reads what the server sent meanwhile without blocking and appends the
  // parsed `qg_jobs` and `qg_control` notifications. An error means the
  // connection broke (a terminated backend, a restart): discard the session.
  absl::Status Poll(std::vector<JobsNotification>* jobs,
                    std::vector<ControlNotification>* control);

  // The socket to wait on for notifications and connection loss.
  int socket() const;

 private:
  LockerSession(PgConnPtr conn, const Clock& clock)
      : conn_(std::move(conn)), clock_(&clock) {}
  PgConnPtr conn_;
  const Clock* clock_;
};

}  // namespace qg::internal

#endif  // QG_WORKER_LOCKER_SESSION_H_
