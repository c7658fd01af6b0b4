// qg/worker/fast_pool.h
// -----------------------------------------------------------------------------
//
// The batched worker path behind `WorkerPool` in `WorkerMode::kFast`
// (internal; use `WorkerPool`). The pool owns the threads, the buffer of
// locked jobs (ordered by priority, run_at, id), the set of jobs it holds,
// and shutdown; it composes four parts with one owner each:
//   - `LockerSession` (locker_session.h): the connection that holds the
//     pool's advisory locks; one pipelined round trip per cycle;
//   - `LockPlanner` (lock_planner.h): what each round trip asks for;
//   - `CompletionBatch` (completion_batch.h): finished jobs until their
//     outcome is written and their lock released;
//   - `WakeSource` (wake_source.h): the locker's waits and NOTIFY parsing.
//
// The data path: the locker locks a batch (`qg_lock_jobs()`, which locks
// and re-checks each row, continuing after the last key it looked at), puts
// the jobs in the buffer, a worker thread takes the most urgent one whose
// row's check answered within `recheck_after` (older ones are re-checked
// first)
// and runs it, and the job's `Done()` hands its outcome to the locker, which
// writes it in the next round trip and releases the lock in the one after.
// A lost locker session loses its locks: jobs still buffered are dropped
// (never started), outcomes of running jobs are dropped (they run again:
// at-least-once), and a new session is opened.
#ifndef QG_WORKER_FAST_POOL_H_
#define QG_WORKER_FAST_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "qg/client.h"
#include "qg/internal/sync.h"
#include "qg/job.h"
#include "qg/worker/completion_batch.h"
#include "qg/worker/lock_planner.h"
#include "qg/worker/locker_session.h"
#include "qg/worker/pool_observer.h"
#include "qg/worker/wake_source.h"
#include "qg/worker/work_map.h"

namespace qg::internal {

struct FastPoolOptions {
  std::string queue;
  // The workers, the buffer, and when jobs are looked for, re-checked and
  // given back (see lock_planner.h).
  PlannerOptions planner;
  // The longest a statement of the locker session may run (the server
  // cancels it: statement_timeout); a round trip with no answer for this
  // long plus 5 s gives the session up (a stalled or half-open connection).
  absl::Duration round_trip_timeout = absl::Seconds(30);
  PoolObserver* observer = nullptr;  // not owned
};

class Watchdog;
class BatchedLease;

class FastPool {
 public:
  // `watchdog` (not owned) enforces timeouts and cancels at shutdown;
  // `said_closed` (not owned, may be null) is set once the pool has logged
  // that its client is closed.
  FastPool(Client* client, const WorkMap* work_map, FastPoolOptions options,
           Watchdog* watchdog, std::atomic<bool>* said_closed = nullptr);
  ~FastPool();

  // Starts the locker and the worker threads. FailedPrecondition when the
  // database lacks qg_lock_jobs() (run `qg migrate`).
  absl::Status Start();

  // Stops locking, lets running handlers finish (cancelling them through the
  // watchdog at `deadline`), releases locked jobs that did not start, applies
  // the last completions, and joins every thread. Idempotent. From one of
  // the pool's own threads it only does `RequestStop()`.
  void Shutdown(absl::Time deadline = absl::InfiniteFuture());

  // Stops taking jobs without waiting: what `Shutdown()` begins with.
  void RequestStop();

  // Whether the calling thread is one of the pool's (a handler, an
  // observer's callback).
  bool OnItsThread() const;

  // From a job's lease, when the job is done.
  void Finish(Completion completion);

 private:
  struct Buffered {
    std::unique_ptr<Job> job;
    BatchedLease* lease;  // owned by `job`
    absl::Time checked_at;
    absl::Time locked_at;
    bool confirming = false;  // a re-check is in flight: do not start it
    // Flow control: locked without a slot, it waits for the slot of a job
    // of bucket `wait_bucket` that finishes (HandOnSlot); workers pass it
    // by until then.
    bool slotless = false;
    int64_t wait_bucket = 0;
  };
  // A slot lock a job holds that the pool may hand on, and its bucket.
  struct HandSlot {
    int64_t lock = 0;
    int64_t bucket = 0;
  };
  // A slot handed on from one job to another, for the locker's books; from
  // or to kParked (kept by the pool for the next job to arrive), or to
  // kReleased (let go of in the next round trip).
  struct HandOff {
    int64_t from = 0;
    int64_t to = 0;
    int64_t lock = 0;
  };
  static constexpr int64_t kParked = 0;  // job ids are positive
  static constexpr int64_t kReleased = -1;
  // A slot a finished job left while no job of the pool waited for one.
  struct ParkedSlot {
    int64_t lock = 0;
    absl::Time since;
  };
  // On a job's end (or release unstarted): its slot goes to the first job
  // of its bucket locked without one, if any and hand-offs may happen now.
  // True when it did. With none waiting, a job that ran parks its slot:
  // the pool keeps it for the next job of its bucket that a scan locks
  // without one (short jobs end before the scan that locks those returns;
  // let go of, they would leave those waiting for a hand-off that never
  // comes).
  bool HandOnSlot(int64_t id, bool ran) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Lets go of the parked slots parked before `before` (in the next round
  // trip, which the caller asks the planner for when this says it let go
  // of any).
  bool UnparkSlots(absl::Time before) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the session should hold the hand-off lock; the hand-off lock
  // argument of the next lock scan (see qg_lock_jobs()).
  bool HandWanted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int HandRequest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What a lock scan's answer says of hand-offs (`hand`: what it asked).
  void TakeHand(const LockerSession::LockResult& l, int hand,
                const std::vector<int64_t>& relocked, absl::Time now);

  void LockerLoop();
  void WorkerLoop();
  // Opens a session; false (after logging) when it cannot.
  bool OpenSession();
  // Makes `session`, opened at `now`, the pool's, with its clock reading.
  void AdoptSession(std::unique_ptr<LockerSession> session, absl::Time now);
  // The session is gone, and every lock with it.
  void LoseSession(const absl::Status& why);
  // A sweep could not be sent or failed: the planner scans from the head
  // instead; the error is logged at most once a minute.
  void SweepFailed(const absl::Status& error, absl::Time sent_at,
                   absl::Duration took);
  // A sweep came back: what it found, the next due time, the clock.
  void OnSwept(const LockerSession::Sweep& sweep);
  // One round trip in flight: what was planned and sent, and the answer.
  struct RoundTrip {
    const Plan* plan = nullptr;
    CompletionBatch::Request writes;     // the batch's writes and unlocks
    std::vector<int64_t> relocked;       // extra lock counts given back
    std::vector<int64_t> limit_unlocks;  // slot locks released with them
    std::vector<int64_t> limit_freed;    // the finished jobs they were of
    LockerSession::Request request;
    LockerSession::Response response;
    // Its lock scan was sent ahead by the round trip before (MaybeContinue):
    // checked when sent (response.lock_sent_at), its answer read now.
    bool sent_ahead = false;
  };

  // The locker loop's steps. Reads NOTIFYs, a sweep's answer and control
  // requests; false when the session broke (it is lost then).
  bool TakeNotifications(absl::Time now);
  // Hands finished jobs to the batch (and, when stopping, gives back what
  // did not start); true when it gave some back, whose releases must be
  // taken in before planning.
  bool TakeFinished(absl::Time now);
  // The pool as the planner sees it; nullopt once stopped with nothing
  // left to write or release.
  std::optional<PoolView> ViewForPlanner();
  bool stopping();

  // A round trip and its steps (see fast_pool.cc).
  void RunRoundTrip(const Plan& plan);
  void ReleaseWaitedTooLong(const std::vector<JobKey>& keys);
  LockerSession::Request BuildRequest(const Plan& plan, RoundTrip& rt);
  // The slot locks of jobs a lock scan returned: kept for fresh ones, to be
  // released for the rest; then what the scan says of jobs it held back.
  // Whether `writes` (what the next round trip sends) frees slot locks.
  bool FreesSlots(const CompletionBatch::Request& writes) const;
  void TakeLimitLocks(const LockerSession::LockResult& l,
                      const std::vector<int64_t>& relocked, absl::Time now);
  // `freeing`: the slot locks this round trip lets go of before its scan.
  LockerSession::Lock LockRequest(const Plan& plan,
                                  const std::vector<int64_t>& freeing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RoundTripFailed(const absl::Status& why);
  // Right after a lock scan's answer was read, before it is applied: sends
  // the next scan on from the new cursor when the planner wants one
  // (LockPlanner::PlanContinuation), for the next round trip to collect.
  // An error means the locker connection is in doubt.
  absl::Status MaybeContinue(const RoundTrip& rt);
  void ApplyWrites(RoundTrip& rt);
  // Tells the planner what the lock scan found (`sent`: when it was sent).
  void LockScanned(RoundTrip& rt, absl::Time sent);
  // Unlocked, re-checked and newly locked jobs into the buffer; returns the
  // jobs given back whose locks are now released.
  std::vector<JobKey> ApplyToBuffer(RoundTrip& rt);
  std::vector<std::unique_ptr<Job>> ApplyConfirm(
      const std::vector<JobKey>& confirmed, const LockerSession::Response& r)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The observer's report of the round trip.
  void Report(const RoundTrip& rt);
  // A pause, resume or cancel request arrived.
  void OnControl(const ControlNotification& n);
  // Cancel requests this session took: stop those jobs.
  void CancelAcked(const std::vector<int64_t>& ids);
  // Adds freshly locked rows to the buffer; releases what does not fit.
  void AddLocked(std::vector<JobRow> rows, absl::Time checked_at);
  // Removes buffered jobs from the buffer without running them; their locks
  // are released by the caller (or are gone).
  std::vector<std::unique_ptr<Job>> TakeBuffered(
      const std::vector<int64_t>& ids, bool lock_released)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Log(LogLevel level, const std::string& message);

  Client* client_;
  const WorkMap* work_map_;
  const FastPoolOptions options_;
  // PoolObserver::RoundTrip::lane: unique in the process.
  const int64_t lane_id_;
  const Clock& clock_;
  Logger* logger_;
  Watchdog* watchdog_;
  std::atomic<bool>* said_closed_;
  std::atomic<bool> own_said_closed_{false};
  WakeSource wake_;

  // Locker-thread state.
  std::unique_ptr<LockerSession> session_;
  // The lock scan sent ahead on session_ (MaybeContinue), whose answer the
  // next round trip reads.
  std::optional<LockerSession::Lock> continuation_;
  // Notifications read while it was in flight: taken in once its answer is
  // applied (a job announced meanwhile is judged against the cursor that
  // answer moves; a pause, against the answer's own pause state; a cancel
  // may be for one of its jobs).
  std::vector<JobsNotification> deferred_jobs_;
  std::vector<ControlNotification> deferred_control_;
  // Takes in notifications (jobs announced, control requests).
  void TakeNotes(const std::vector<JobsNotification>& jobs,
                 const std::vector<ControlNotification>& control,
                 absl::Time now);
  LockPlanner planner_;
  CompletionBatch batch_;
  absl::Duration db_offset_;  // database clock minus ours
  absl::Time reconnect_at_ = absl::InfinitePast();
  absl::Duration reconnect_delay_;
  absl::flat_hash_set<int64_t> unreadable_;  // never lock these again
  std::vector<int64_t> pending_acks_;        // cancel requests of jobs we hold
  // Buffered jobs given back unstarted whose locks are not yet released:
  // once they are, the lock scan goes back for them.
  absl::flat_hash_set<int64_t> releasing_;
  // Jobs a lock scan locked a second time (re-entrantly) while this session
  // held them: one unlock each is owed.
  std::vector<int64_t> relocked_;
  // Flow control: the slot locks (qg_limits) each held job took, released
  // with the job's lock; slot locks to release whose jobs' locks went
  // another way (a re-check found the row gone, a re-entrant lock); and the
  // pool's id for per-pool limits.
  absl::flat_hash_map<int64_t, std::vector<int64_t>> limit_locks_;
  std::vector<int64_t> limit_unlocks_;
  const int64_t scope_;
  // Slot hand-off, locker side: whether the session may hold the hand-off
  // lock, whether to let go of it (a change to limits waits for it, or a
  // failed statement left it unsure), the limits' version it read, and the
  // jobs of the answer being applied that wait for a slot (by id: the
  // bucket).
  bool hand_held_ = false;
  bool hand_release_wanted_ = false;  // a change waits, or held unsure
  int64_t limits_version_ = 0;
  std::map<int64_t, int64_t> arriving_wait_;
  // Sweep failures: when one was last logged, how many since.
  absl::Time sweep_error_logged_ = absl::InfinitePast();
  int sweep_errors_unlogged_ = 0;

  Mutex mu_;
  CondVar work_cv_;  // buffer changed, or stopping_
  CondVar idle_cv_;  // workers_running_ went down
  std::map<JobKey, Buffered> ready_ ABSL_GUARDED_BY(mu_);
  // Jobs whose locks the current session holds, from lock to release.
  absl::flat_hash_map<int64_t, JobKey> held_ ABSL_GUARDED_BY(mu_);
  // Jobs being run by a worker, of any session.
  absl::flat_hash_map<int64_t, JobKey> running_ ABSL_GUARDED_BY(mu_);
  // The running jobs themselves (alive until their Done() calls Finish()).
  absl::flat_hash_map<int64_t, Job*> running_jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<Completion> finished_ ABSL_GUARDED_BY(mu_);
  // Slot hand-off, shared side: per held job whose slot may be handed on,
  // the slot; per bucket, the buffered jobs locked without a slot, in key
  // order; whether hand-offs may happen now (the session holds the
  // hand-off lock and no scan in flight lets go of it); hand-offs done
  // since the locker last took them in.
  absl::flat_hash_map<int64_t, HandSlot> hand_slots_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, std::set<JobKey>> slotless_ ABSL_GUARDED_BY(mu_);
  bool hand_ok_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<HandOff> hand_offs_ ABSL_GUARDED_BY(mu_);
  // Buckets a scan locked jobs without a slot for (those of a queue's one
  // all-jobs limit, under the limits as last read): only their slots are
  // parked. Any other bucket's slot goes with its job: parked, it would
  // hold the bucket's next job back in the pool's own scan.
  absl::flat_hash_set<int64_t> wait_buckets_ ABSL_GUARDED_BY(mu_);
  // Per bucket, the slots parked (HandOnSlot) that no job holds yet.
  absl::flat_hash_map<int64_t, std::vector<ParkedSlot>> parked_
      ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  // The locker session's socket (-1: none), which workers check for a hang-up
  // before they start a buffered job: a session that died must not hand out
  // its jobs in the instant before the locker notices.
  // A duplicate of the locker session's socket that workers peek at
  // (SetPeekFd), -1 without a session.
  int session_fd_ ABSL_GUARDED_BY(mu_) = -1;
  // Replaces it with a duplicate of `fd` (-1: none), closing the old one.
  void SetPeekFd(int fd) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool session_encrypted_ ABSL_GUARDED_BY(mu_) = false;
  // A lock scan was sent ahead and not yet collected: its answer may wait
  // unread on the socket while the locker applies the previous one, so a
  // worker's look treats any unread byte as possibly the server's last
  // words (as on an encrypted connection).
  bool session_ahead_ ABSL_GUARDED_BY(mu_) = false;
  // The locker session's reads and whether it parsed the server's FATAL or
  // PANIC (LockerSession::watch()); null without a session.
  std::shared_ptr<const ReadWatch> session_watch_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int idle_workers_ ABSL_GUARDED_BY(mu_) = 0;
  // A worker found the locker's socket with unread input (SessionQuiet) and
  // waits for the locker to read it (TakeNotifications wakes it).
  std::atomic<bool> input_waiters_{false};
  // Handler run times since the locker last looked (sum, count).
  absl::Duration run_time_sum_ ABSL_GUARDED_BY(mu_);
  int run_time_count_ ABSL_GUARDED_BY(mu_) = 0;
  int workers_running_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;

  std::thread locker_thread_;
  std::vector<std::thread> worker_threads_;
};

}  // namespace qg::internal

#endif  // QG_WORKER_FAST_POOL_H_
