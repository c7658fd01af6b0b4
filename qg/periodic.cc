#include "qg/periodic.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/executor.h"
#include "qg/internal/guarded.h"
#include "qg/internal/pg.h"
#include "qg/internal/queries.h"
#include "qg/internal/sync.h"

namespace qg {

using internal::Mutex;
using internal::MutexLock;

namespace queries = internal::queries;

// A registered schedule and what this enqueuer knows of its record. The
// mutable state is touched by RunOnce() only, under run_mu_.
struct PeriodicEnqueuer::Entry {
  PeriodicJob job;
  Schedule schedule;
  // The record's latest occurrence, as last read or written here.
  std::optional<absl::Time> known_last;
  // After a failure: not before this time, and the next wait.
  absl::Time retry_at = absl::InfinitePast();
  absl::Duration backoff = absl::Seconds(1);
};

namespace {

constexpr absl::Duration kHeartbeatEvery = absl::Minutes(1);
constexpr absl::Duration kMaxBackoff = absl::Minutes(1);
// How far a record may be ahead of the deciding clock and still be trusted:
// a record is never ahead unless that clock was stepped back (NTP) since it
// was written, and waiting for the clock to pass it beats running an
// occurrence twice. Further ahead, it was written on another clock.
constexpr absl::Duration kTrustedAhead = absl::Minutes(1);

absl::Status MissingPeriodicTable() {
  return absl::FailedPreconditionError(
      "periodic jobs need the qg_periodic table of qg-cpp's schema "
      "additions, which this database lacks: run `qg migrate`");
}

// A failed statement on qg_periodic: an undefined table means the
// additions are missing.
absl::Status PeriodicError(const absl::Status& status) {
  if (qg::SqlState(status) == "42P01") return MissingPeriodicTable();
  return status;
}

absl::StatusOr<Rows> Query(Executor& exec, const internal::Call& call) {
  absl::StatusOr<Rows> rows = exec.Query(call.statement->text, call.params);
  if (!rows.ok()) return PeriodicError(rows.status());
  return rows;
}

// `clock.Now()` (a user's clock, possibly): an exception is an error.
absl::StatusOr<absl::Time> SafeNow(const Clock& clock) {
  return internal::Guard(
      "the periodic enqueuer's clock",
      [&]() -> absl::StatusOr<absl::Time> { return clock.Now(); });
}

// The jobs of `job` for `occurrences`: its builder's (a builder that throws
// or fails is an error: the caller's transaction rolls back, no job and no
// lock are left), each due at its occurrence unless the builder said when.
absl::StatusOr<std::vector<NewJob>> BuildJobs(
    const PeriodicJob& job, const std::vector<absl::Time>& occurrences) {
  std::vector<NewJob> jobs;
  jobs.reserve(occurrences.size());
  for (absl::Time occurrence : occurrences) {
    absl::StatusOr<NewJob> built = job.job;
    if (job.build) {
      built = internal::Guard("the job's builder",
                              [&] { return job.build(occurrence); });
    }
    if (!built.ok()) {
      return absl::Status(
          built.status().code(),
          absl::StrCat("building the job: ", built.status().message()));
    }
    if (!built->run_at.has_value()) built->run_at = occurrence;
    jobs.push_back(std::move(*built));
  }
  return jobs;
}

absl::StatusOr<absl::Time> TimeField(const std::optional<std::string>& field,
                                     absl::string_view what) {
  if (!field) return absl::InternalError(absl::StrCat(what, " is NULL"));
  absl::StatusOr<absl::Time> t = qg::ParseTimestamp(*field);
  if (!t.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot read ", what, " \"", *field, "\""));
  }
  return t;
}

// The occurrences to enqueue, oldest first, when `due` (the latest at or
// before `now`) is newer than `last`.
std::vector<absl::Time> Occurrences(const PeriodicJob& job,
                                    const Schedule& schedule, absl::Time last,
                                    absl::Time now, absl::Time due) {
  switch (job.missed) {
    case MissedPolicy::kLatest:
      return {due};
    case MissedPolicy::kSkip:
      if (now - due <= job.grace) return {due};
      return {};
    case MissedPolicy::kAll:
      break;
  }
  std::vector<absl::Time> out;
  for (absl::Time o = due; o > last && o != absl::InfinitePast() &&
                           static_cast<int>(out.size()) < job.max_catch_up;
       o = schedule.Prev(o - absl::Nanoseconds(1))) {
    out.push_back(o);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// The database's clock (clock_timestamp()), through `exec`.
absl::StatusOr<absl::Time> DatabaseNow(Executor& exec) {
  absl::StatusOr<Rows> rows = Query(exec, queries::PeriodicNow());
  if (!rows.ok()) return rows.status();
  if (rows->rows.size() != 1 || rows->rows[0].empty()) {
    return absl::InternalError("reading the database's clock returned no row");
  }
  return TimeField(rows->rows[0][0], "the database's clock");
}

// A pooled connection in a transaction of its own.
struct OwnTx {
  internal::PooledConn conn;
  std::unique_ptr<PgTx> tx;
};

absl::StatusOr<OwnTx> BeginOwn(Client& client) {
  absl::StatusOr<internal::PooledConn> conn =
      client.conn_pool()->Acquire(client.options().acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<std::unique_ptr<PgTx>> tx = PgTx::Begin(conn->get());
  if (!tx.ok()) return tx.status();
  return OwnTx{std::move(*conn), std::move(*tx)};
}

// Reads the records of qg_periodic, by name.
absl::StatusOr<std::map<std::string, PeriodicInfo>> ReadRecords(
    Executor& exec, absl::Duration registered_within) {
  absl::StatusOr<Rows> rows =
      Query(exec, queries::PeriodicList(registered_within));
  if (!rows.ok()) return rows.status();
  std::map<std::string, PeriodicInfo> out;
  for (const auto& row : rows->rows) {
    if (row.size() < 8 || !row[0] || !row[1] || !row[2]) {
      return absl::InternalError("unexpected qg_periodic row");
    }
    PeriodicInfo info;
    info.name = *row[0];
    info.schedule = *row[1];
    info.time_zone = *row[2];
    absl::StatusOr<absl::Time> last = TimeField(row[3], "last_occurrence");
    if (!last.ok()) return last.status();
    info.last_occurrence = *last;
    int64_t id = 0;
    if (row[4] && absl::SimpleAtoi(*row[4], &id)) info.last_job_id = id;
    absl::StatusOr<absl::Time> seen = TimeField(row[5], "seen_at");
    if (!seen.ok()) return seen.status();
    info.seen_at = *seen;
    info.registered = row[7] == "t";
    info.recorded = true;
    out[info.name] = std::move(info);
  }
  return out;
}

absl::StatusOr<std::map<std::string, PeriodicInfo>> ReadRecords(
    Client& client, absl::Duration registered_within) {
  absl::StatusOr<internal::PooledConn> conn =
      client.conn_pool()->Acquire(client.options().acquire_timeout);
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  return ReadRecords(exec, registered_within);
}

// The next occurrence after `now` and after `last`.
std::optional<absl::Time> NextOccurrence(const Schedule& schedule,
                                         std::optional<absl::Time> last,
                                         absl::Time now) {
  absl::Time from = last.has_value() ? std::max(*last, now) : now;
  return schedule.Next(from);
}

}  // namespace

PeriodicEnqueuer::PeriodicEnqueuer(Client* client, PeriodicOptions options)
    : client_(client), options_(std::move(options)) {}

PeriodicEnqueuer::~PeriodicEnqueuer() {
  MutexLock lifecycle(lifecycle_mu_);
  {
    MutexLock lock(mu_);
    starts_ = 0;
    stop_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

absl::Status PeriodicEnqueuer::Register(PeriodicJob job) {
  if (job.name.empty()) {
    return absl::InvalidArgumentError("a periodic job needs a name");
  }
  if (absl::Status s = internal::CheckNoNul("periodic job name", job.name);
      !s.ok()) {
    return s;
  }
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("periodic job \"", job.name, "\": ", why));
  };
  absl::StatusOr<Schedule> schedule =
      Schedule::Parse(job.schedule, job.time_zone);
  if (!schedule.ok()) return invalid(schedule.status().message());
  if (!job.build) {
    if (job.job.type.empty()) {
      return invalid("give a job (with a type) or a builder");
    }
    absl::StatusOr<internal::InsertRow> row = ValidateNewJob(job.job);
    if (!row.ok()) return invalid(row.status().message());
  }
  if (job.max_catch_up < 1) {
    return invalid(absl::StrCat("max_catch_up must be at least 1, not ",
                                job.max_catch_up));
  }
  if (job.grace < absl::ZeroDuration()) {
    return invalid("grace must not be negative");
  }
  auto entry = std::make_shared<Entry>(
      Entry{std::move(job), *std::move(schedule), std::nullopt});
  {
    MutexLock lock(mu_);
    for (const auto& e : entries_) {
      if (e->job.name == entry->job.name) {
        return invalid("a schedule with this name is registered already");
      }
    }
    entries_.push_back(std::move(entry));
    wake_ = true;
  }
  cv_.SignalAll();
  return absl::OkStatus();
}

std::vector<std::string> PeriodicEnqueuer::names() const {
  MutexLock lock(mu_);
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e->job.name);
  return out;
}

absl::StatusOr<absl::Time> PeriodicEnqueuer::Now(Executor* exec) {
  if (options_.clock != nullptr) return SafeNow(*options_.clock);
  if (exec != nullptr) return DatabaseNow(*exec);
  absl::StatusOr<internal::PooledConn> conn =
      client_->conn_pool()->Acquire(client_->options().acquire_timeout);
  if (!conn.ok()) return conn.status();
  PgExecutor own(conn->get());
  return DatabaseNow(own);
}

void PeriodicEnqueuer::Log(LogLevel level, const std::string& message) {
  // The client's logger: a user's is guarded against throwing.
  client_->logger().Log(level, message);
}

PeriodicRunResult PeriodicEnqueuer::RunOnce() {
  MutexLock run(run_mu_);
  std::vector<std::shared_ptr<Entry>> entries;
  {
    MutexLock lock(mu_);
    entries = entries_;
  }
  PeriodicRunResult result;
  if (entries.empty()) return result;  // no clock to read for nothing
  // One clock decides for every enqueuer: the database's (or the one the
  // options name), never this host's own.
  absl::StatusOr<absl::Time> now_or = Now();
  {
    MutexLock lock(mu_);
    if (now_or.ok()) {
      last_now_ = std::make_pair(*now_or, absl::Now());
    } else {
      last_now_.reset();
    }
  }
  if (!now_or.ok()) {
    Log(LogLevel::kError,
        absl::StrCat("qg: periodic jobs: cannot read the clock that decides "
                     "occurrences: ",
                     now_or.status().ToString()));
    result.status = now_or.status();
    return result;
  }
  const absl::Time now = *now_or;
  for (const auto& entry : entries) {
    absl::Time due = entry->schedule.Prev(now);
    if (due == absl::InfinitePast()) continue;
    // Known to be handled, by a record not too far ahead of the clock.
    if (entry->known_last.has_value() && *entry->known_last >= due &&
        *entry->known_last <= now + kTrustedAhead) {
      continue;
    }
    if (now < entry->retry_at) continue;
    // Whatever a callback threw: the occurrence failed.
    absl::Status s = internal::Guard("enqueuing", [&] {
      return RunEntry(*entry, now, due, result.enqueued);
    });
    if (s.ok()) {
      entry->retry_at = absl::InfinitePast();
      entry->backoff = absl::Seconds(1);
      continue;
    }
    Log(LogLevel::kError,
        absl::StrCat("qg: periodic job \"", entry->job.name, "\": occurrence ",
                     absl::FormatTime(due), " not enqueued (tried again in ",
                     absl::FormatDuration(entry->backoff),
                     "): ", s.ToString()));
    entry->retry_at = now + entry->backoff;
    entry->backoff = std::min(entry->backoff * 2, kMaxBackoff);
    if (result.status.ok()) result.status = s;
  }
  Heartbeat(now);
  return result;
}

absl::StatusOr<PeriodicEnqueuer::RecordIs> PeriodicEnqueuer::JudgeRecord(
    const PeriodicJob& job, Tx& tx, absl::Time last, absl::Time now,
    absl::Time due) {
  if (last <= now + kTrustedAhead) {
    // Another enqueuer handled it, or it is due.
    return last >= due ? RecordIs::kHandled : RecordIs::kBehind;
  }
  // Far ahead of the clock read before. Read it again now that the record
  // is locked (the lock may have taken long): a record a correct enqueuer
  // committed is not ahead of that.
  absl::StatusOr<absl::Time> locked_now = Now(&tx);
  if (!locked_now.ok()) return locked_now.status();
  if (last <= *locked_now + kTrustedAhead) return RecordIs::kHandled;
  const char* clock = options_.clock != nullptr ? "the enqueuer's clock"
                                                : "the database's clock";
  Log(LogLevel::kWarning,
      absl::StrCat("qg: periodic job \"", job.name,
                   "\": its record's latest occurrence, ",
                   absl::FormatTime(last), ", is ahead of ", clock, " (",
                   absl::FormatTime(*locked_now),
                   "): not trusted (an enqueuer whose own clock ran ahead "
                   "wrote it?); enqueuing the occurrence due now, ",
                   absl::FormatTime(due),
                   ", and moving the record back to it (jobs enqueued "
                   "ahead of time for later occurrences may run twice)"));
  return RecordIs::kUntrustedAhead;
}

absl::Status PeriodicEnqueuer::RunEntry(
    Entry& entry, absl::Time now, absl::Time due,
    std::vector<PeriodicEnqueued>& enqueued) {
  const PeriodicJob& job = entry.job;
  absl::StatusOr<OwnTx> own = BeginOwn(*client_);
  if (!own.ok()) return own.status();
  Tx& tx = *own->tx;
  // A schedule nobody recorded yet starts with its next occurrence.
  absl::StatusOr<Rows> claimed =
      Query(tx, queries::PeriodicClaim(job.name, entry.schedule.spec(),
                                       entry.schedule.time_zone(), due));
  if (!claimed.ok()) return claimed.status();
  if (!claimed->rows.empty()) {
    if (absl::Status s = tx.Commit(); !s.ok()) return s;
    entry.known_last = due;
    return absl::OkStatus();
  }
  absl::StatusOr<Rows> locked = Query(tx, queries::PeriodicLock(job.name));
  if (!locked.ok()) return locked.status();
  if (locked->rows.empty()) {
    // Removed between the two statements: claim it again next run.
    entry.known_last.reset();
    return tx.Rollback();
  }
  absl::StatusOr<absl::Time> last =
      TimeField(locked->rows[0][0], "last_occurrence");
  if (!last.ok()) return last.status();
  absl::StatusOr<RecordIs> record_is = JudgeRecord(job, tx, *last, now, due);
  if (!record_is.ok()) return record_is.status();
  if (*record_is == RecordIs::kHandled) {
    entry.known_last = *last;
    return tx.Rollback();
  }
  const bool ahead = *record_is == RecordIs::kUntrustedAhead;
  // A record ahead of the clock says nothing about the occurrences before
  // `due`: only `due` is enqueued (per the policy).
  std::vector<absl::Time> occurrences = Occurrences(
      job, entry.schedule,
      ahead ? entry.schedule.Prev(due - absl::Nanoseconds(1)) : *last, now,
      due);
  absl::StatusOr<std::vector<NewJob>> jobs = BuildJobs(job, occurrences);
  if (!jobs.ok()) return jobs.status();
  std::optional<int64_t> last_job_id;
  std::vector<EnqueueResult> results;
  if (!jobs->empty()) {
    absl::StatusOr<std::vector<EnqueueResult>> stored =
        client_->EnqueueManyDetailed(*jobs, &tx);
    if (!stored.ok()) return stored.status();
    results = std::move(*stored);
    last_job_id = results.back().id;
  }
  internal::PeriodicRecord record;
  record.name = job.name;
  record.last_occurrence = due;
  record.last_job_id = last_job_id;
  record.schedule = entry.schedule.spec();
  record.time_zone = entry.schedule.time_zone();
  absl::StatusOr<Rows> recorded = Query(tx, queries::PeriodicRecord(record));
  if (!recorded.ok()) return recorded.status();
  if (absl::Status s = tx.Commit(); !s.ok()) return s;
  entry.known_last = due;
  for (size_t i = 0; i < results.size(); ++i) {
    enqueued.push_back(PeriodicEnqueued{job.name, occurrences[i], results[i].id,
                                        results[i].duplicate});
  }
  return absl::OkStatus();
}

void PeriodicEnqueuer::Heartbeat(absl::Time now) {
  if (now >= last_heartbeat_ && now - last_heartbeat_ < kHeartbeatEvery) {
    return;
  }
  std::vector<std::string> names = this->names();
  if (names.empty()) return;
  absl::StatusOr<internal::PooledConn> conn =
      client_->conn_pool()->Acquire(client_->options().acquire_timeout);
  absl::Status s = conn.status();
  if (conn.ok()) {
    PgExecutor exec(conn->get());
    s = Query(exec, queries::PeriodicHeartbeat(names)).status();
  }
  if (!s.ok()) {
    Log(LogLevel::kWarning,
        absl::StrCat("qg: periodic heartbeat failed: ", s.ToString()));
    return;
  }
  last_heartbeat_ = now;
}

absl::Status PeriodicEnqueuer::Start() {
  if (options_.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PeriodicOptions::interval must be positive, not ",
                     absl::FormatDuration(options_.interval)));
  }
  MutexLock lifecycle(lifecycle_mu_);
  {
    MutexLock lock(mu_);
    if (starts_ > 0) {
      ++starts_;
      return absl::OkStatus();
    }
  }
  {
    absl::StatusOr<internal::PooledConn> conn =
        client_->conn_pool()->Acquire(client_->options().acquire_timeout);
    if (!conn.ok()) return conn.status();
    PgExecutor exec(conn->get());
    absl::StatusOr<Rows> rows = Query(exec, queries::HasPeriodicTable());
    if (!rows.ok()) return rows.status();
    if (rows->rows.size() != 1 || rows->rows[0][0] != "t") {
      return MissingPeriodicTable();
    }
  }
  if (thread_.joinable()) thread_.join();  // a loop told to stop earlier
  {
    MutexLock lock(mu_);
    starts_ = 1;
    stop_ = false;
    wake_ = false;
  }
  absl::StatusOr<std::thread> t = internal::StartThread([this] { Loop(); });
  if (!t.ok()) {
    MutexLock lock(mu_);
    starts_ = 0;
    return t.status();
  }
  thread_ = std::move(*t);
  return absl::OkStatus();
}

void PeriodicEnqueuer::Stop() {
  MutexLock lifecycle(lifecycle_mu_);
  {
    MutexLock lock(mu_);
    if (starts_ == 0) return;
    if (--starts_ > 0) return;
    stop_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void PeriodicEnqueuer::Loop() {
  MutexLock lock(mu_);
  while (!stop_) {
    lock.Unlock();
    // RunOnce() catches what callbacks throw; this is a last guard.
    absl::Status s = internal::Guard("a run", [&] {
      RunOnce();
      return absl::OkStatus();
    });
    if (!s.ok()) {
      Log(LogLevel::kError, absl::StrCat("qg: periodic jobs: ", s.message()));
    }
    lock.Lock();
    if (stop_) break;
    // Sleep until the next occurrence of any schedule on the deciding clock
    // (as read by the run, plus the time since), at most `interval`. This
    // host's clock only measures how long to sleep.
    absl::Duration wait = options_.interval;
    if (last_now_.has_value()) {
      const auto [now, read_at] = *last_now_;
      absl::Duration since =
          std::max(absl::Now() - read_at, absl::ZeroDuration());
      for (const auto& e : entries_) {
        wait = std::min(wait, e->schedule.Next(now) - now - since);
      }
    }
    absl::Time deadline = absl::Now() + std::max(wait, absl::ZeroDuration());
    cv_.WaitUntil(lock, deadline, [&] {
      mu_.AssertHeld();
      return stop_ || wake_;
    });
    wake_ = false;
  }
}

absl::StatusOr<std::vector<PeriodicInfo>> PeriodicEnqueuer::List() {
  absl::StatusOr<std::map<std::string, PeriodicInfo>> records =
      ReadRecords(*client_, kPeriodicRegisteredWithin);
  if (!records.ok()) return records.status();
  for (auto& [name, info] : *records) info.registered = false;
  std::vector<std::shared_ptr<Entry>> entries;
  {
    MutexLock lock(mu_);
    entries = entries_;
  }
  absl::StatusOr<absl::Time> now_or = Now();
  if (!now_or.ok()) return now_or.status();
  const absl::Time now = *now_or;
  for (const auto& entry : entries) {
    PeriodicInfo& info = (*records)[entry->job.name];
    if (!info.recorded) {
      info.name = entry->job.name;
      info.schedule = entry->schedule.spec();
      info.time_zone = entry->schedule.time_zone();
    }
    info.registered = true;
    // What this process would enqueue next, by its own schedule.
    info.next_occurrence =
        NextOccurrence(entry->schedule, info.last_occurrence, now);
  }
  std::vector<PeriodicInfo> out;
  for (auto& [name, info] : *records) {
    if (!info.registered) {
      absl::StatusOr<Schedule> s =
          Schedule::Parse(info.schedule, info.time_zone);
      if (s.ok()) {
        info.next_occurrence = NextOccurrence(*s, info.last_occurrence, now);
      }
    }
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<std::vector<PeriodicInfo>> ListPeriodic(
    Executor& exec, absl::Time now, absl::Duration registered_within) {
  absl::StatusOr<std::map<std::string, PeriodicInfo>> records =
      ReadRecords(exec, registered_within);
  if (!records.ok()) return records.status();
  std::vector<PeriodicInfo> out;
  for (auto& [name, info] : *records) {
    absl::StatusOr<Schedule> s = Schedule::Parse(info.schedule, info.time_zone);
    if (s.ok()) {
      info.next_occurrence = NextOccurrence(*s, info.last_occurrence, now);
    }
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<std::vector<PeriodicInfo>> ListPeriodic(
    Client& client, absl::Duration registered_within) {
  absl::StatusOr<internal::PooledConn> conn =
      client.conn_pool()->Acquire(client.options().acquire_timeout);
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  absl::StatusOr<absl::Time> now = DatabaseNow(exec);
  if (!now.ok()) return now.status();
  return ListPeriodic(exec, *now, registered_within);
}

absl::Status RemovePeriodic(Executor& exec, absl::string_view name) {
  absl::StatusOr<Rows> rows = Query(exec, queries::PeriodicRemove(name));
  if (!rows.ok()) return rows.status();
  if (rows->affected == 0) {
    return absl::NotFoundError(
        absl::StrCat("no periodic schedule named \"", name, "\""));
  }
  return absl::OkStatus();
}

absl::Status RemovePeriodic(Client& client, absl::string_view name) {
  absl::StatusOr<internal::PooledConn> conn =
      client.conn_pool()->Acquire(client.options().acquire_timeout);
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  return RemovePeriodic(exec, name);
}

}  // namespace qg
