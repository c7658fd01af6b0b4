// qg/worker/locker_session.h
// -----------------------------------------------------------------------------
//
// The fast pool's locker session (internal): the connection that holds the
// advisory locks of a pool's jobs, a second one that writes finished jobs'
// outcomes, and the only code of the pool that talks to libpq. It opens
// them (forced settings, the lock function check, prepared statements,
// planner settings, LISTEN), runs each cycle as one pipelined round trip
// on both at once (the writes on the writer connection, everything else
// on the locker; a write's lock is released in a later round trip, after
// it committed), and reads notifications. Two backends work for the pool
// in parallel: the lock scans and the deletes no longer queue behind each
// other on one server process. A third connection runs the sweep
// (qg_sweep(): jobs nobody holds behind the pool's cursor, and when the next
// scheduled job is due) in the background, since it walks the queue from its
// head. Any error that leaves the locker connection in doubt makes the
// session unusable: the pool discards it (and with it every lock it held)
// and opens a new one. The writer and the sweeper hold no lock: when one of
// them fails, its work is done again (writes on the locker, the sweep
// later) and it is reopened; the session and its jobs go on.
#ifndef QG_WORKER_LOCKER_SESSION_H_
#define QG_WORKER_LOCKER_SESSION_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/clock.h"
#include "qg/internal/pipeline.h"
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
    int64_t scope = 0;           // the pool's id, for per-pool limits
    std::vector<JobKey> probes;  // jobs held back by limits, looked at first
    std::vector<int64_t> probe_buckets;  // their buckets (hashes)
    // The hand-off lock (qg_lock_jobs()): 0 none, 1 let go and take, 2
    // keep, 4 let go.
    int hand = 0;
  };
  // One round trip: on the locker connection, in this order, cancel
  // acknowledgements, unlock (jobs whose writes committed earlier), confirm,
  // lock; on the writer connection, at the same time, the writes.
  struct Request {
    std::vector<int64_t> ack_cancels;  // cancel requests of held jobs
    std::optional<Call> unlock;
    std::vector<Call> writes;
    std::vector<JobKey> confirm;
    std::optional<Lock> lock;
    // Without a lock scan: flow control's hand-off lock alone (1 let go and
    // take again, 2 keep, 4 let go; 0 nothing), for queue `hand_queue`.
    int hand_op = 0;
    std::string hand_queue;
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
    // Flow control: per locked (or unreadable) job, the slot locks it took;
    // per bucket a limit found full, the first candidate it held back; when
    // a rate limit that held one back has a token again (from when the
    // answer was read).
    std::map<int64_t, std::vector<int64_t>> limit_locks;
    // (bucket, its first job held back); the bucket as a hash.
    std::vector<std::pair<int64_t, JobKey>> blocked;
    std::optional<absl::Duration> retry_in;
    // Slot hand-off: per job, the bucket in which its slot may be handed on;
    // per job locked without a slot, the bucket whose slot it waits for;
    // whether the session holds the hand-off lock; the limits' version.
    std::map<int64_t, int64_t> limit_bucket;
    std::map<int64_t, int64_t> limit_wait;
    bool hand_held = false;
    int64_t limits_version = 0;
    bool change_wanted = false;  // a change to limits waits for the lock
  };
  // What a sweep found.
  struct Sweep {
    // The statement failed (its connection is fine): nothing else is set.
    absl::Status error;
    std::vector<JobKey> free;  // runnable, behind the cursor, held by nobody
    std::optional<absl::Duration> due_in;  // the next future job, from sent_at
    std::optional<int16_t> priority;       // of that job
    // The database's clock minus ours (error: the way there).
    absl::Duration clock_offset;
    absl::Time sent_at;
    absl::Time received_at;
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
    // The answer to `hand_op` (nullopt: not asked, or it failed): as a
    // lock scan's hand_held, limits_version and change_wanted.
    std::optional<LockResult> hand;
    absl::Time sent_at;
    absl::Time received_at;
    // When the lock scan answered in `lock` was sent (`sent_at`, or that of
    // SendLock()).
    absl::Time lock_sent_at;
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

  // The pipeline of a scan sent ahead (SendLock) tells the watch when it
  // ends: it goes first (members go in reverse order, the watch among the
  // first).
  ~LockerSession() { pending_.reset(); }

  // clock_offset()
  //
  // The database's clock minus ours, as read when the session opened.
  absl::Duration clock_offset() const { return clock_offset_; }

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
  // connection broke or the server said it is ending it (a terminated
  // backend, a restart): discard the session.
  absl::Status Poll(std::vector<JobsNotification>* jobs,
                    std::vector<ControlNotification>* control);

  // The socket to wait on for notifications and connection loss.
  int socket() const;

  // Whether the locker's traffic is encrypted (TLS or GSSAPI): its socket's
  // unread bytes then say nothing about what they hold.
  bool encrypted() const;

  // What the locker thread's reads of the session's socket are up to (see
  // `ReadWatch`): its `ending` is set the moment the server's FATAL or PANIC
  // is parsed (a notice between round trips, or a statement's error within
  // one), before any caller hears of it, and its `reads` count is odd while
  // bytes taken off the socket may be unparsed. Other threads read it to
  // know the session's locks are going (shared, so that it outlives the
  // session).
  std::shared_ptr<const ReadWatch> watch() const { return watch_; }
  // What the locker thread calls when it has parsed bytes a worker waits
  // for (`ReadWatch::wake`). Call before the session's first read.
  void SetReadWake(std::function<void()> wake) {
    watch_->wake = std::move(wake);
  }

  // SendLock()
  //
  // Sends the lock scan `lock` on the locker connection without waiting for
  // its answer: the next `Run()` reads it first, as its lock's answer
  // (`Response::lock`, with `lock_sent_at`), and must carry no lock scan
  // and no hand-off request of its own. One at a time. `Poll()` takes the
  // answer off the connection as soon as it is complete, so that nothing
  // behind it (the server's last words) stays unparsed. An error means the
  // connection is in doubt: discard the session.
  absl::Status SendLock(const Lock& lock);
  // Whether a lock scan sent by SendLock() awaits its Run().
  bool lock_pending() const { return pending_.has_value(); }

  // StartSweep()
  //
  // Sends a sweep of `queue` (up to `want` free jobs before `before`, none
  // looked for when nullopt; then the next due time) on the sweep
  // connection, without waiting. One at a time. An error means no sweep was
  // sent (the sweep connection is reopened for the next one); the session
  // is fine.
  absl::Status StartSweep(absl::string_view queue,
                          const std::optional<JobKey>& before, int want);
  // Whether a sweep is under way, and the socket its answer arrives on.
  bool sweeping() const { return sweep_.has_value(); }
  int sweep_socket() const;
  // PollSweep()
  //
  // The sweep's answer when it has arrived (nullopt: not yet), without
  // blocking; a sweep that failed, its connection included, comes back
  // with `error` set.
  absl::StatusOr<std::optional<Sweep>> PollSweep();

 private:
  LockerSession(PgConnPtr conn, PgConnPtr writer, PgConnPtr sweeper,
                std::string conninfo, absl::Duration statement_timeout,
                const Clock& clock)
      : conn_(std::move(conn)),
        writer_(std::move(writer)),
        sweeper_(std::move(sweeper)),
        conninfo_(std::move(conninfo)),
        statement_timeout_(statement_timeout),
        clock_(&clock) {
    PQsetNoticeReceiver(conn_.get(), &LockerSession::OnNotice, this);
  }
  LockerSession(const LockerSession&) = delete;  // the receiver holds `this`
  LockerSession& operator=(const LockerSession&) = delete;

  // The locker's notice receiver. libpq hands an error that arrives while
  // no statement runs to the notice receiver, not to a caller: that is how
  // a terminated backend's FATAL (57P01) arrives, and PostgreSQL sends it
  // before it releases the session's locks, but closes the socket only
  // after: the FATAL is the first sign that the locks are going.
  static void OnNotice(void* self, const PGresult* notice);
  // Unavailable once the server said it ends the session (OnNotice).
  absl::Status CheckNotEnding() const;
  // The steps of `Run()`. Sends `writes` on the writer connection and
  // returns its pipeline; nullopt with `*writes_on_locker` set when the
  // writer is down (the writes then go on the locker).
  std::optional<Pipeline> StartWrites(const std::vector<Call>& writes,
                                      absl::Time deadline,
                                      bool* writes_on_locker);
  // Sends the locker's statements: cancel acknowledgements, unlock, the
  // writes when they go on the locker, confirm, lock.
  absl::Status SendLocker(Pipeline& p, const Request& request,
                          bool writes_on_locker);
  // Reads the locker's answers into `response`; an error means the
  // connection is in doubt.
  absl::Status ReadLocker(Pipeline& p, const Request& request,
                          bool writes_on_locker, absl::Time deadline,
                          Response& response);
  // Reads the writer's `count` answers into `response.writes`; false when
  // the writer is out of step (drop it: it is reopened later), its
  // unanswered writes then counting as failed.
  bool ReadWrites(Pipeline& wp, size_t count, absl::Time deadline,
                  Response& response);

  // Opens a writer or sweeper connection.
  static absl::StatusOr<PgConnPtr> OpenHelper(const std::string& conninfo,
                                              absl::Duration statement_timeout);
  // Whether `conn` is open, opening it again if it was dropped (at most once
  // a second).
  bool EnsureHelper(PgConnPtr& conn, absl::Time& retry_at);
  void DropHelper(PgConnPtr& conn, absl::Time& retry_at);

  PgConnPtr conn_;     // the locker: holds the locks; its loss ends all
  PgConnPtr writer_;   // null while reconnecting
  PgConnPtr sweeper_;  // null while reconnecting
  std::string conninfo_;
  absl::Duration statement_timeout_;
  absl::Time writer_retry_at_ = absl::InfinitePast();
  absl::Time sweeper_retry_at_ = absl::InfinitePast();
  std::optional<Pipeline> sweep_;  // the sweep under way
  absl::Time sweep_sent_at_;
  // The lock scan SendLock() sent (its pipeline on the locker connection,
  // destroyed before it), and its answer once Poll() took it in.
  std::optional<Pipeline> pending_;
  absl::Time pending_sent_at_;
  std::optional<absl::StatusOr<PgResult>> pending_answer_;
  const Clock* clock_;
  absl::Duration clock_offset_;  // database minus ours, at Open()
  // The server's FATAL or PANIC notice on the locker, once one came (see
  // OnNotice): the session is ending and its locks with it.
  std::string ending_;
  std::shared_ptr<ReadWatch> watch_ = std::make_shared<ReadWatch>();
};

}  // namespace qg::internal

#endif  // QG_WORKER_LOCKER_SESSION_H_
