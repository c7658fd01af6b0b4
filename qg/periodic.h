// qg/periodic.h
// -----------------------------------------------------------------------------
//
// Periodic (cron) jobs. A `PeriodicEnqueuer` holds schedules registered by
// name, each with a `qg::Schedule` (five-field cron in an explicit time zone,
// a macro, or `@every 30s`) and the job to enqueue at each occurrence, and
// enqueues that job once per occurrence: exactly once across any number of
// processes running the same schedules, and across restarts.
//
// How: each schedule has a durable record, a row of `qg_periodic` (created
// by `qg migrate`), holding the latest occurrence handled. An enqueuer that
// finds an occurrence due locks that row (`SELECT ... FOR UPDATE`), compares,
// inserts the job and moves the record forward in the same transaction, so
// a job exists for an occurrence if and only if the record says it was
// handled; other enqueuers wait on the row lock and then see the new record.
// There is no leader to elect or lose, and a finished job (whose row is
// deleted) cannot make its occurrence run again.
//
// Example (in every process that runs workers):
//   qg::PeriodicEnqueuer periodic(client.get());
//   QG_RETURN_IF_ERROR(periodic.Register({
//       .name = "nightly-report",
//       .schedule = "30 2 * * *",
//       .time_zone = "Europe/Berlin",
//       .job = {.type = "NightlyReport", .queue = "reports"},
//   }));
//   QG_RETURN_IF_ERROR(periodic.Register({
//       .name = "refresh-cache",
//       .schedule = "@every 30s",
//       .build = [](absl::Time occurrence) {   // typed, built per occurrence
//         RefreshCache msg;
//         msg.set_as_of_unix(absl::ToUnixSeconds(occurrence));
//         return qg::NewTypedJob(msg);
//       },
//   }));
//   qg::WorkerOptions options;
//   options.periodic = &periodic;  // started and stopped with the pool
//   qg::WorkerPool pool(client.get(), &work_map, 4, options);
//
// Semantics:
//
//   * Which occurrences are due is decided on one clock that every host
//     shares: the database's (`clock_timestamp()`, read once per
//     `RunOnce()`, and again under the record's lock when the record is
//     far ahead of that reading). A host whose own clock is wrong, ahead or
//     stepped back, neither enqueues an occurrence early nor keeps the other
//     hosts from enqueuing: its clock only paces the background thread's
//     sleep. The job's run_at is the occurrence, unless the job sets its own.
//   * A record more than a minute ahead of the database's clock (written by
//     an older qg-cpp on a host whose clock ran ahead, or by hand) is not
//     trusted: the next run logs a warning, enqueues the occurrence due now
//     (per `MissedPolicy`) and moves the record back to it. The jobs that
//     wrote it enqueued ahead of time for later occurrences are not known,
//     so those may run twice. A record up to a minute ahead (what a small
//     step back of the database's clock leaves) is trusted: its schedule
//     waits for the clock to pass it, so nothing runs twice.
//   * A schedule seen for the first time starts with its next occurrence:
//     the record is created with the latest past occurrence counted as
//     handled, and nothing is enqueued for it.
//   * Missed occurrences (the processes were down, or busy): see
//     `MissedPolicy`; by default only the latest is enqueued, once.
//   * A schedule removed from the code is no longer enqueued by anyone; its
//     record stays (listed as not registered) until `RemovePeriodic()`.
//   * Changing a schedule's spec or zone under the same name keeps its
//     record: occurrences of the new spec after the latest one handled are
//     due. While processes with different specs for one name run side by
//     side (a rolling deploy), each enqueues by its own spec; the record
//     keeps the enqueue of any one occurrence instant single.
//   * The job itself is an ordinary job: at-least-once delivery, retries and
//     dead jobs as for any other. Ruby and Go workers sharing the queue run
//     periodic jobs like any job; they do not enqueue them.
//
// Needs `qg migrate` (the `qg_periodic` table): without it `Start()` and
// `RunOnce()` return `FailedPrecondition` naming it. A worker role needs
// SELECT, INSERT and UPDATE on `qg_periodic`.
#ifndef QG_PERIODIC_H_
#define QG_PERIODIC_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/client.h"
#include "qg/clock.h"
#include "qg/executor.h"
#include "qg/internal/sync.h"
#include "qg/job.h"
#include "qg/schedule.h"

namespace qg {

// MissedPolicy
//
// What an enqueuer does when several occurrences of a schedule are due at
// once (none was handled since the record's latest), or the latest due one
// is late.
enum class MissedPolicy {
  // Enqueue the latest due occurrence, once; older ones are skipped.
  // Default.
  kLatest,
  // Enqueue every due occurrence, oldest first, in one transaction: at most
  // `PeriodicJob::max_catch_up` of them (the most recent; older ones are
  // skipped).
  kAll,
  // Enqueue the latest due occurrence only if it is at most
  // `PeriodicJob::grace` old; otherwise skip it (and all older ones) and
  // wait for the next.
  kSkip,
};

// Builds the job of one occurrence (`occurrence` is the scheduled instant).
using PeriodicJobBuilder =
    std::function<absl::StatusOr<NewJob>(absl::Time occurrence)>;

// PeriodicJob
//
// One schedule to register. `name`, `schedule` and either `job` or `build`
// are required.
struct PeriodicJob {
  // The schedule's durable identity: the primary key of its record in
  // `qg_periodic`, shared by every process that registers it. Non-empty, no
  // NUL byte, unique within an enqueuer.
  std::string name;

  // A `Schedule::Parse()` spec: "*/5 * * * *", "@daily", "@every 30s".
  std::string schedule;

  // The IANA zone cron fields are read in (not used by `@every`).
  // Default: "UTC".
  std::string time_zone = "UTC";

  // The job to enqueue at each occurrence (when `build` is empty). Checked at
  // `Register()` as `Client::Enqueue()` would check it. Leave run_at empty:
  // it becomes the occurrence.
  NewJob job;

  // Builds the job per occurrence (typed jobs: return `NewTypedJob(...)`).
  // Called inside the enqueuing transaction; an error, or an exception it
  // throws (an `Internal` error naming it), rolls that back (no job, the
  // record's lock released) and the occurrence is tried again later.
  // Default: empty (use `job`).
  PeriodicJobBuilder build;

  // See `MissedPolicy`. Default: kLatest.
  MissedPolicy missed = MissedPolicy::kLatest;

  // kAll: the most occurrences enqueued at once (at least 1). Default: 100.
  int max_catch_up = 100;

  // kSkip: how late an occurrence may be handled and still be enqueued (not
  // negative). Default: 1 minute.
  absl::Duration grace = absl::Minutes(1);
};

// PeriodicOptions
struct PeriodicOptions {
  // The clock that decides which occurrences are due. Default: nullptr,
  // meaning the database's (see "Semantics" above); the client's clock
  // (`ClientOptions::clock`) is not used. Set it only where every enqueuer
  // of the same schedules is given the same clock: tests that drive
  // schedules with `qg_testing::FakeClock`. Exceptions it throws are errors
  // of the run, never thrown on.
  const Clock* clock = nullptr;

  // The longest the background thread (`Start()`) waits between two checks;
  // it also wakes at the next occurrence of any schedule and on
  // `Register()`. Must be positive. Default: 10s.
  absl::Duration interval = absl::Seconds(10);
};

// One occurrence enqueued by `RunOnce()`.
struct PeriodicEnqueued {
  std::string name;
  absl::Time occurrence;
  int64_t job_id = 0;
  // The job was a unique job whose key another job held (see `UniqueOpts`):
  // nothing was inserted; the occurrence counts as handled.
  bool duplicate = false;
};

// What one `RunOnce()` did.
struct PeriodicRunResult {
  // Occurrences enqueued by this call, by schedule in registration order,
  // then by occurrence.
  std::vector<PeriodicEnqueued> enqueued;
  // OK, or the first failure (each is logged). A failed schedule is tried
  // again by a later run: after 1s, doubling up to 1 minute.
  absl::Status status;
};

// PeriodicInfo
//
// A schedule as the listings show it.
struct PeriodicInfo {
  std::string name;
  std::string schedule;   // as last recorded (or registered, if no record)
  std::string time_zone;  // likewise
  // The latest occurrence handled; nullopt when there is no record yet.
  std::optional<absl::Time> last_occurrence;
  // The job enqueued for the latest occurrence that got one.
  std::optional<int64_t> last_job_id;
  // The next occurrence after now (and after `last_occurrence`); nullopt if
  // the recorded spec no longer parses.
  std::optional<absl::Time> next_occurrence;
  // When a running enqueuer last had it registered; nullopt without record.
  std::optional<absl::Time> seen_at;
  // `PeriodicEnqueuer::List()`: registered in that enqueuer.
  // `ListPeriodic()`: seen by a running enqueuer within `registered_within`.
  bool registered = false;
  // Whether the database has a record of it.
  bool recorded = false;
};

// PeriodicEnqueuer
//
// Enqueues the jobs of its registered schedules when they are due. Thread-
// safe. Run one per process (every process may run one: they coordinate
// through the database), through `WorkerOptions::periodic`, `Start()`, or by
// calling `RunOnce()` yourself.
class PeriodicEnqueuer {
 public:
  // `client` must outlive the enqueuer.
  explicit PeriodicEnqueuer(Client* client, PeriodicOptions options = {});
  // Stops the background thread if it runs.
  ~PeriodicEnqueuer();

  PeriodicEnqueuer(const PeriodicEnqueuer&) = delete;
  PeriodicEnqueuer& operator=(const PeriodicEnqueuer&) = delete;

  // Register()
  //
  // Adds a schedule. `InvalidArgument` for an empty name or one with a NUL
  // byte, a name already registered here, a spec or zone `Schedule::Parse()`
  // refuses (its message says why), neither `job.type` nor `build` given, a
  // fixed `job` that `Client::Enqueue()` would refuse, `max_catch_up` below 1
  // or a negative `grace`. Nothing is registered then. May be called while
  // running; the new schedule is considered at once.
  absl::Status Register(PeriodicJob job);

  // The registered names, in registration order.
  std::vector<std::string> names() const;

  // RunOnce()
  //
  // Reads the deciding clock (the database's: one query) and enqueues what
  // is due at its now: for each schedule whose latest occurrence at or before
  // now is newer than what this enqueuer knows of its record, one
  // transaction that locks the record, re-reads it, enqueues the due
  // occurrences (per `MissedPolicy`) through `Client::EnqueueManyDetailed`
  // and records them. A schedule known to be up to date costs no further
  // query. Also marks the schedules as registered in the database
  // (`seen_at`) at most once a minute. Never throws: what a builder, the
  // client's logger or the clock throws becomes the failed schedule's
  // error (the logger's is reported on stderr). The background thread
  // calls this; tests call it directly, with a fake clock in
  // `PeriodicOptions::clock` when they drive the time.
  PeriodicRunResult RunOnce();

  // Start()
  //
  // Starts a thread that calls `RunOnce()` at each occurrence (and at least
  // every `interval`) until `Stop()`. `InvalidArgument` for a non-positive
  // interval; `FailedPrecondition` when the database lacks `qg_periodic`
  // (run `qg migrate`). Calls nest: after n successful `Start()` calls the
  // thread runs until the n-th `Stop()`, so pools may share an enqueuer.
  absl::Status Start();

  // Stop()
  //
  // Undoes one `Start()`; the last one stops the thread, after the
  // `RunOnce()` in progress. Does nothing when not started.
  void Stop();

  // List()
  //
  // Every schedule registered here or recorded in the database, by name:
  // `registered` is true for the ones registered here. Next occurrences are
  // after the deciding clock's now.
  absl::StatusOr<std::vector<PeriodicInfo>> List();

 private:
  struct Entry;

  // Now on the deciding clock: `PeriodicOptions::clock`, or the database's
  // (read through `exec` when given, else on a pooled connection).
  absl::StatusOr<absl::Time> Now(Executor* exec = nullptr);
  // What a schedule's locked record says of the occurrence `due`.
  enum class RecordIs {
    kBehind,          // it is due: enqueue it
    kHandled,         // another enqueuer did it (or is about to be due)
    kUntrustedAhead,  // far ahead of the clock: enqueue `due` and move it back
  };
  // Judges the record whose latest occurrence is `last` (locked in `tx`),
  // reading the clock again when it looks far ahead; logs an untrusted one.
  absl::StatusOr<RecordIs> JudgeRecord(const PeriodicJob& job, Tx& tx,
                                       absl::Time last, absl::Time now,
                                       absl::Time due);
  // Handles one due schedule in one transaction.
  absl::Status RunEntry(Entry& entry, absl::Time now, absl::Time due,
                        std::vector<PeriodicEnqueued>& enqueued);
  void Heartbeat(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);
  // Logs through the client's logger; never throws.
  void Log(LogLevel level, const std::string& message);
  void Loop();

  Client* const client_;
  const PeriodicOptions options_;

  // entries_ (the list), starts_, stop_, wake_, last_now_
  mutable internal::Mutex mu_;
  std::vector<std::shared_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  int starts_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  internal::CondVar cv_;
  // The deciding clock's now as the last RunOnce() read it, and this host's
  // absl::Now() then (when the background thread wakes next); nullopt when
  // that read failed.
  std::optional<std::pair<absl::Time, absl::Time>> last_now_
      ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // owned by Start()/Stop() under lifecycle_mu_
  internal::Mutex lifecycle_mu_;

  internal::Mutex run_mu_;  // one RunOnce() at a time; Entry's state
  absl::Time last_heartbeat_ ABSL_GUARDED_BY(run_mu_) = absl::InfinitePast();
};

// The default `registered_within` of `ListPeriodic()`: five heartbeats.
inline constexpr absl::Duration kPeriodicRegisteredWithin = absl::Minutes(5);

// ListPeriodic()
//
// Every schedule recorded in the database, by name, with its last and next
// occurrence, for admin tools (`qg periodic`) that do not run the code that
// registers schedules: `registered` is true for schedules some running
// enqueuer marked within `registered_within` (measured on the database's
// clock). Next occurrences are after the database's now, as enqueuers decide
// them. `FailedPrecondition` without `qg migrate`.
absl::StatusOr<std::vector<PeriodicInfo>> ListPeriodic(
    Client& client,
    absl::Duration registered_within = kPeriodicRegisteredWithin);

// RemovePeriodic()
//
// Forgets the record of schedule `name` (its jobs stay). If a process still
// registers it, its next run creates a new record, which starts with the
// next occurrence. `NotFound` when there is no such record.
absl::Status RemovePeriodic(Client& client, absl::string_view name);

// The same on any executor (a connection or transaction of the caller's),
// for tools without a `Client` (`qg::Admin`): next occurrences are computed
// after `now`.
absl::StatusOr<std::vector<PeriodicInfo>> ListPeriodic(
    Executor& exec, absl::Time now,
    absl::Duration registered_within = kPeriodicRegisteredWithin);
absl::Status RemovePeriodic(Executor& exec, absl::string_view name);

}  // namespace qg

#endif  // QG_PERIODIC_H_
