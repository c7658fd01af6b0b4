#include "qg/worker/locker_session.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "qg/internal/pg.h"
#include "qg/internal/pipeline.h"
#include "qg/internal/pooler.h"
#include "qg/internal/sql.h"

namespace qg::internal {
namespace {

// The key in columns (priority, run_at, id) of row `i`; nullopt when NULL or
// absent.
std::optional<JobKey> ReadKey(const PgResult& r, int i,
                              const char* priority_col, const char* run_at_col,
                              const char* id_col) {
  int p_col = PQfnumber(r.get(), priority_col);
  int r_col = PQfnumber(r.get(), run_at_col);
  int i_col = PQfnumber(r.get(), id_col);
  if (p_col < 0 || r_col < 0 || i_col < 0 || r.IsNull(i, i_col)) {
    return std::nullopt;
  }
  JobKey key;
  int32_t priority = 0;
  absl::StatusOr<absl::Time> run_at = ParseTimestamp(r.Get(i, r_col));
  if (!absl::SimpleAtoi(r.Get(i, p_col), &priority) || !run_at.ok() ||
      !absl::SimpleAtoi(r.Get(i, i_col), &key.id)) {
    return std::nullopt;
  }
  key.priority = static_cast<int16_t>(priority);
  key.run_at_text = std::string(r.Get(i, r_col));
  key.run_at = *run_at;
  return key;
}

// The limits' part of a lock scan's answer: a row's slot locks, or the
// summary's first held-back job and rate retry time. False when
// unreadable.
bool ReadLimits(const PgResult& r, int i, bool summary,
                LockerSession::LockResult& out) {
  if (!summary) {
    int col = PQfnumber(r.get(), "limit_locks");
    int id_col = PQfnumber(r.get(), "job_id");
    if (col < 0 || id_col < 0 || r.IsNull(i, col)) return true;
    int64_t id = 0;
    std::vector<int64_t> locks;
    if (!absl::SimpleAtoi(r.Get(i, id_col), &id) ||
        !ParseIdArray(r.Get(i, col), &locks)) {
      return false;
    }
    if (!locks.empty()) out.limit_locks[id] = std::move(locks);
    for (auto [name, into] : {std::pair{"limit_bucket", &out.limit_bucket},
                              std::pair{"limit_wait", &out.limit_wait}}) {
      int c = PQfnumber(r.get(), name);
      if (c < 0 || r.IsNull(i, c)) continue;
      int64_t bucket = 0;
      if (!absl::SimpleAtoi(r.Get(i, c), &bucket)) return false;
      (*into)[id] = bucket;
    }
    return true;
  }
  if (int c = PQfnumber(r.get(), "hand_held"); c >= 0 && !r.IsNull(i, c)) {
    out.hand_held = r.Get(i, c) == "t";
  }
  if (int c = PQfnumber(r.get(), "change_wanted"); c >= 0 && !r.IsNull(i, c)) {
    out.change_wanted = r.Get(i, c) == "t";
  }
  if (int c = PQfnumber(r.get(), "limits_version");
      c >= 0 && !r.IsNull(i, c) &&
      !absl::SimpleAtoi(r.Get(i, c), &out.limits_version)) {
    return false;
  }
  int p_col = PQfnumber(r.get(), "blocked_priorities");
  int r_col = PQfnumber(r.get(), "blocked_run_ats");
  int i_col = PQfnumber(r.get(), "blocked_job_ids");
  int b_col = PQfnumber(r.get(), "blocked_buckets");
  if (p_col >= 0 && r_col >= 0 && i_col >= 0 && b_col >= 0 &&
      !r.IsNull(i, i_col)) {
    std::vector<int64_t> priorities, ids, buckets;
    if (!ParseIdArray(r.Get(i, p_col), &priorities) ||
        !ParseIdArray(r.Get(i, i_col), &ids) ||
        !ParseIdArray(r.Get(i, b_col), &buckets)) {
      return false;
    }
    // timestamptz[] text: {"2026-12-06 11:00:00.123456+00",...}
    absl::string_view text = r.Get(i, r_col);
    if (text.size() < 2) return false;
    std::vector<std::string> run_ats;
    text = text.substr(1, text.size() - 2);
    if (!text.empty()) {
      for (absl::string_view part : absl::StrSplit(text, ',')) {
        if (part.size() >= 2 && part.front() == '"') {
          part = part.substr(1, part.size() - 2);
        }
        run_ats.emplace_back(part);
      }
    }
    if (priorities.size() != ids.size() || run_ats.size() != ids.size() ||
        buckets.size() != ids.size()) {
      return false;
    }
    for (size_t k = 0; k < ids.size(); ++k) {
      absl::StatusOr<absl::Time> at = ParseTimestamp(run_ats[k]);
      if (!at.ok()) return false;
      JobKey key;
      key.priority = static_cast<int16_t>(priorities[k]);
      key.run_at = *at;
      key.run_at_text = run_ats[k];
      key.id = ids[k];
      out.blocked.emplace_back(buckets[k], std::move(key));
    }
  }
  int retry_col = PQfnumber(r.get(), "retry_in");
  if (retry_col >= 0 && !r.IsNull(i, retry_col)) {
    double seconds = 0;
    if (!absl::SimpleAtod(r.Get(i, retry_col), &seconds)) return false;
    out.retry_in = absl::Seconds(std::max(0.0, seconds));
  }
  return true;
}

absl::StatusOr<LockerSession::LockResult> ReadLock(const PgResult& r) {
  LockerSession::LockResult out;
  absl::StatusOr<JobRowReader> reader = JobRowReader::For(r);
  if (!reader.ok()) return reader.status();
  int locked_col = PQfnumber(r.get(), "locked");
  int scanned_col = PQfnumber(r.get(), "scanned");
  int exhausted_col = PQfnumber(r.get(), "exhausted");
  if (locked_col < 0 || scanned_col < 0 || exhausted_col < 0) {
    return absl::InternalError("qg_lock_jobs: unexpected columns");
  }
  bool summary_seen = false;
  for (int i = 0; i < r.rows(); ++i) {
    if (r.Get(i, locked_col) != "t") {
      // The summary row: how far the scan went.
      summary_seen = true;
      if (!absl::SimpleAtoi(r.Get(i, scanned_col), &out.scanned)) {
        return absl::InternalError("qg_lock_jobs: unreadable summary");
      }
      out.exhausted = r.Get(i, exhausted_col) == "t";
      int paused_col = PQfnumber(r.get(), "paused");
      out.paused = paused_col >= 0 && r.Get(i, paused_col) == "t";
      out.last = ReadKey(r, i, "priority", "run_at", "job_id");
      out.rewind_stopped =
          ReadKey(r, i, "rewind_priority", "rewind_run_at", "rewind_job_id");
      if (!ReadLimits(r, i, true, out)) {
        return absl::InternalError("qg_lock_jobs: unreadable summary");
      }
      continue;
    }
    // Read first: an unreadable row's slot locks are released with it.
    if (!ReadLimits(r, i, false, out)) {
      return absl::InternalError("qg_lock_jobs: unreadable limit locks");
    }
    absl::StatusOr<JobRow> row = reader->Read(r, i);
    if (!row.ok()) {
      int64_t id = 0;
      int id_col = PQfnumber(r.get(), "job_id");
      if (id_col >= 0 && absl::SimpleAtoi(r.Get(i, id_col), &id)) {
        out.unreadable.push_back(id);
      }
      continue;
    }
    out.rows.push_back(std::move(*row));
  }
  if (!summary_seen) return absl::InternalError("qg_lock_jobs: no summary");
  return out;
}

// The database's clock minus ours, from its now() (`db_now`, epoch seconds)
// in a statement sent at `sent`: now() is the statement's start, the way
// there after `sent`.
absl::Duration ClockOffset(double db_now, absl::Time sent) {
  return absl::FromUnixMicros(std::llround(db_now * 1e6)) - sent;
}

// A sweep's rows: free jobs' keys, then one row (job_id NULL) with the next
// due time (due_in, db_now, due_priority).
absl::StatusOr<LockerSession::Sweep> ReadSweep(const PgResult& r,
                                               absl::Time sent) {
  LockerSession::Sweep out;
  int due_col = PQfnumber(r.get(), "due_in");
  int now_col = PQfnumber(r.get(), "db_now");
  int prio_col = PQfnumber(r.get(), "due_priority");
  int id_col = PQfnumber(r.get(), "job_id");
  if (due_col < 0 || now_col < 0 || prio_col < 0 || id_col < 0 ||
      r.rows() < 1) {
    return absl::InternalError("qg_sweep: unexpected result");
  }
  for (int i = 0; i < r.rows(); ++i) {
    if (!r.IsNull(i, id_col)) {
      if (std::optional<JobKey> key =
              ReadKey(r, i, "priority", "run_at", "job_id")) {
        out.free.push_back(std::move(*key));
      }
      continue;
    }
    double due_in = 0, db_now = 0;
    if (!absl::SimpleAtod(r.Get(i, now_col), &db_now)) {
      return absl::InternalError("qg_sweep: no database clock");
    }
    if (!r.IsNull(i, due_col) && absl::SimpleAtod(r.Get(i, due_col), &due_in)) {
      out.due_in = absl::Microseconds(std::llround(due_in * 1e6));
    }
    int32_t priority = 0;
    if (!r.IsNull(i, prio_col) &&
        absl::SimpleAtoi(r.Get(i, prio_col), &priority)) {
      out.priority = static_cast<int16_t>(priority);
    }
    out.clock_offset = ClockOffset(db_now, sent);
  }
  return out;
}

// What every connection of the session needs: the locker's statements
// prepared, its planner settings, and the statement timeout.
absl::Status SetUpConnection(PGconn* conn, absl::Duration statement_timeout) {
  if (absl::Status s = RequireWritableServer(conn, "a worker pool"); !s.ok()) {
    return s;
  }
  if (absl::Status s = sql::PrepareAll(conn, sql::LockerStatements());
      !s.ok()) {
    return s;
  }
  for (const Call& call : {queries::LockerSettings(),
                           queries::SessionTimeout(statement_timeout)}) {
    if (absl::Status s = internal::Run(conn, call).status(); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LockerSession>> LockerSession::Open(
    const std::string& conninfo, absl::Duration statement_timeout,
    const Clock& clock) {
  absl::StatusOr<PgConnPtr> conn = Connect(conninfo);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<PgResult> has_fn =
      internal::Run(conn->get(), queries::HasLockFunction());
  if (!has_fn.ok()) return has_fn.status();
  if (has_fn->Get(0, 0) != "t") {
    return absl::FailedPreconditionError(
        "the database lacks qg_lock_jobs() as this version of the fast "
        "worker path calls it (missing, or installed by an older `qg "
        "migrate`): run `qg migrate` (or apply schema/qg_additions.sql)");
  }
  absl::StatusOr<PgResult> may_record =
      internal::Run(conn->get(), queries::HistoryPrivileges());
  if (!may_record.ok()) return may_record.status();
  if (may_record->Get(0, 0) != "t") {
    return absl::PermissionDeniedError(
        "the fast worker path writes job history in the statements that "
        "finish jobs, and this role may not: GRANT EXECUTE ON FUNCTION "
        "qg_history_queues TO <role>; GRANT SELECT ON qg_history_settings, "
        "qg_queues TO <role>; GRANT SELECT, INSERT, UPDATE ON qg_job_history "
        "TO <role> (README, \"Least-privilege roles\"; `qg grants` prints "
        "them)");
  }
  if (absl::Status s = SetUpConnection(conn->get(), statement_timeout);
      !s.ok()) {
    return s;
  }
  for (const Call& call : {queries::Listen(), queries::ListenControl()}) {
    if (absl::Status s = internal::Run(conn->get(), call).status(); !s.ok()) {
      return s;
    }
  }
  // The database's clock, for NOTIFYs that arrive before the first sweep
  // answers (sweeps then keep it current).
  const absl::Time sent = clock.Now();
  absl::StatusOr<PgResult> db_clock =
      internal::Run(conn->get(), queries::DbClock());
  if (!db_clock.ok()) return db_clock.status();
  double db_now = 0;
  if (!absl::SimpleAtod(db_clock->Get(0, 0), &db_now)) {
    return absl::InternalError(absl::StrCat("qg_db_clock: not a number: \"",
                                            db_clock->Get(0, 0), "\""));
  }
  const absl::Duration clock_offset = ClockOffset(db_now, sent);
  // The writer and the sweeper: the same settings and statements; no
  // LISTEN, no locks (the sweeper's try-locks are released at once).
  absl::StatusOr<PgConnPtr> writer = OpenHelper(conninfo, statement_timeout);
  if (!writer.ok()) return writer.status();
  absl::StatusOr<PgConnPtr> sweeper = OpenHelper(conninfo, statement_timeout);
  if (!sweeper.ok()) return sweeper.status();
  auto session = std::unique_ptr<LockerSession>(new LockerSession(
      std::move(*conn), std::move(*writer), std::move(*sweeper), conninfo,
      statement_timeout, clock));
  session->clock_offset_ = clock_offset;
  return session;
}

absl::StatusOr<PgConnPtr> LockerSession::OpenHelper(
    const std::string& conninfo, absl::Duration statement_timeout) {
  absl::StatusOr<PgConnPtr> conn = Connect(conninfo);
  if (!conn.ok()) return conn.status();
  if (absl::Status s = SetUpConnection(conn->get(), statement_timeout);
      !s.ok()) {
    return s;
  }
  return conn;
}

bool LockerSession::EnsureHelper(PgConnPtr& conn, absl::Time& retry_at) {
  if (conn != nullptr) return true;
  absl::Time now = clock_->Now();
  if (now < retry_at) return false;
  absl::StatusOr<PgConnPtr> c = OpenHelper(conninfo_, statement_timeout_);
  if (!c.ok()) {
    retry_at = now + absl::Seconds(1);
    return false;
  }
  conn = std::move(*c);
  return true;
}

void LockerSession::DropHelper(PgConnPtr& conn, absl::Time& retry_at) {
  conn.reset();
  retry_at = clock_->Now();  // reconnect at the next use
}

int LockerSession::socket() const { return PQsocket(conn_.get()); }

bool LockerSession::encrypted() const {
  return PQsslInUse(conn_.get()) || PQgetgssctx(conn_.get()) != nullptr;
}

int LockerSession::sweep_socket() const {
  return sweeper_ != nullptr ? PQsocket(sweeper_.get()) : -1;
}

absl::Status LockerSession::StartSweep(absl::string_view queue,
                                       const std::optional<JobKey>& before,
                                       int want) {
  if (sweep_) return absl::FailedPreconditionError("a sweep is under way");
  if (!EnsureHelper(sweeper_, sweeper_retry_at_)) {
    return absl::UnavailableError("no sweep connection (reconnecting)");
  }
  sweep_sent_at_ = clock_->Now();
  absl::Status s = [&]() -> absl::Status {
    absl::StatusOr<Pipeline> p = Pipeline::Begin(sweeper_.get(), *clock_);
    if (!p.ok()) return p.status();
    sweep_.emplace(std::move(*p));
    if (absl::Status s =
            sweep_->Send(queries::Sweep(queue, before, want, 10 * want + 1000));
        !s.ok()) {
      return s;
    }
    return sweep_->Flush(sweep_sent_at_ + absl::Seconds(5));
  }();
  if (!s.ok()) {
    sweep_.reset();
    DropHelper(sweeper_, sweeper_retry_at_);
  }
  return s;
}

absl::StatusOr<std::optional<LockerSession::Sweep>> LockerSession::PollSweep() {
  if (!sweep_) return std::optional<Sweep>();
  // The sweep's connection failing ends the sweep, not the session: it
  // holds no lock. It is opened again for the next sweep.
  auto failed = [&](absl::Status error) {
    Sweep out;
    out.error = std::move(error);
    out.sent_at = sweep_sent_at_;
    out.received_at = clock_->Now();
    return std::optional<Sweep>(std::move(out));
  };
  PGconn* c = sweeper_.get();
  if (PQconsumeInput(c) != 1 || PQstatus(c) != CONNECTION_OK) {
    absl::Status lost = absl::UnavailableError(
        absl::StrCat("sweep connection lost: ", PQerrorMessage(c)));
    sweep_.reset();
    DropHelper(sweeper_, sweeper_retry_at_);
    return failed(std::move(lost));
  }
  if (PQisBusy(c)) return std::optional<Sweep>();
  // The answer is here (its trailing sync follows in the same packet, or
  // a moment later).
  absl::StatusOr<PgResult> r = sweep_->Next(clock_->Now() + absl::Seconds(5));
  bool in_step = sweep_->Finish() && !sweep_->poisoned();
  sweep_.reset();
  if (!in_step) {
    DropHelper(sweeper_, sweeper_retry_at_);
    return failed(r.ok()
                      ? absl::UnavailableError("sweep connection out of step")
                      : r.status());
  }
  if (!r.ok()) return failed(r.status());
  absl::StatusOr<Sweep> sweep = ReadSweep(*r, sweep_sent_at_);
  if (!sweep.ok()) return failed(sweep.status());
  sweep->sent_at = sweep_sent_at_;
  sweep->received_at = clock_->Now();
  return std::optional<Sweep>(std::move(*sweep));
}

absl::Status LockerSession::SendLock(const Lock& l) {
  if (pending_) return absl::FailedPreconditionError("a lock scan is pending");
  pending_sent_at_ = clock_->Now();
  absl::StatusOr<Pipeline> p =
      Pipeline::Begin(conn_.get(), *clock_, watch_.get());
  if (!p.ok()) return p.status();
  pending_.emplace(std::move(*p));
  absl::Status s = pending_->Send(
      queries::LockJobs(l.queue, l.want, l.held, l.max_scan, l.after, l.rewind,
                        l.scope, l.probes, l.probe_buckets, l.hand));
  if (s.ok()) {
    s = pending_->Flush(pending_sent_at_ + statement_timeout_ +
                        absl::Seconds(5));
  }
  return s;
}

void LockerSession::OnNotice(void* self, const PGresult* notice) {
  const char* severity =
      PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity == nullptr) return;
  const absl::string_view level = severity;
  if (level != "FATAL" && level != "PANIC") return;
  auto* session = static_cast<LockerSession*>(self);
  if (!session->ending_.empty()) return;
  const char* message = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
  session->ending_ = absl::StrCat(level, ": ", message ? message : "");
  session->watch_->ending.store(true);
}

absl::Status LockerSession::CheckNotEnding() const {
  if (ending_.empty() && watch_->ending.load()) {
    return absl::UnavailableError(
        "the server is ending the locker session (its FATAL came as a "
        "statement's error)");
  }
  if (ending_.empty()) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("the server is ending the locker session (", ending_, ")"));
}

absl::Status LockerSession::Poll(std::vector<JobsNotification>* jobs,
                                 std::vector<ControlNotification>* control) {
  watch_->Reading();
  if (PQconsumeInput(conn_.get()) != 1 ||
      PQstatus(conn_.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("locker connection lost: ", PQerrorMessage(conn_.get())));
  }
  if (pending_ && !pending_answer_ && !PQisBusy(conn_.get())) {
    // The answer of the lock scan sent ahead is complete: take it now, or
    // libpq would parse nothing after it (the server's last words
    // included) until the round trip that reads it.
    // Without the watch: it stays odd (Reading() above) until what follows
    // the answer is parsed too, below.
    pending_->set_watch(nullptr);
    absl::StatusOr<PgResult> answer =
        pending_->Next(clock_->Now() + statement_timeout_ + absl::Seconds(5));
    pending_->set_watch(watch_.get());
    if (pending_->poisoned()) {
      return absl::UnavailableError(absl::StrCat(
          "locker connection: reading a lock scan: ",
          answer.ok() ? "out of step" : answer.status().ToString()));
    }
    pending_answer_ = std::move(answer);
  }
  // PQnotifies() parses what PQconsumeInput() read, the server's last words
  // included (OnNotice): check for them after.
  while (PGnotify* n = PQnotifies(conn_.get())) {
    if (absl::string_view(n->relname) == sql::kControlChannel) {
      if (std::optional<ControlNotification> parsed =
              ParseControlNotification(n->extra)) {
        control->push_back(std::move(*parsed));
      }
    } else if (std::optional<JobsNotification> parsed =
                   ParseJobsNotification(n->extra)) {
      jobs->push_back(std::move(*parsed));
    }
    PQfreemem(n);
  }
  // PQnotifies() parsed every complete message (it stops at none left).
  watch_->Parsed();
  return CheckNotEnding();
}

// A round trip has four steps: the writes go out on the writer connection
// (StartWrites), everything else on the locker (SendLocker), then the
// locker's answers are read in the order sent (ReadLocker), then the
// writer's (ReadWrites).
absl::StatusOr<LockerSession::Response> LockerSession::Run(
    const Request& request, absl::Duration timeout) {
  Response response;
  response.sent_at = clock_->Now();
  const absl::Time deadline = response.sent_at + timeout;
  bool writes_on_locker = false;
  std::optional<Pipeline> writes =
      StartWrites(request.writes, deadline, &writes_on_locker);
  // A lock scan sent ahead (SendLock) is this round trip's: its pipeline
  // carries the rest, and its answer comes first.
  const bool ahead = pending_.has_value();
  if (ahead && (request.lock || request.hand_op != 0)) {
    return absl::InternalError(
        "a round trip with a lock scan in flight carries another");
  }
  absl::StatusOr<Pipeline> begun =
      ahead ? absl::StatusOr<Pipeline>(std::move(*pending_))
            : Pipeline::Begin(conn_.get(), *clock_, watch_.get());
  pending_.reset();
  if (!begun.ok()) return begun.status();
  std::optional<Pipeline> locker(std::move(*begun));
  response.lock_sent_at = ahead ? pending_sent_at_ : response.sent_at;
  if (absl::Status s = SendLocker(*locker, request, writes_on_locker);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = locker->Flush(deadline); !s.ok()) return s;
  if (ahead) {
    absl::StatusOr<PgResult> r =
        pending_answer_ ? std::move(*pending_answer_) : locker->Next(deadline);
    pending_answer_.reset();
    if (locker->poisoned()) {
      return r.ok() ? absl::UnavailableError("locker connection out of step")
                    : r.status();
    }
    if (!r.ok()) response.any_failed = true;
    response.lock =
        r.ok() ? ReadLock(*r) : absl::StatusOr<LockResult>(r.status());
  }
  if (absl::Status s =
          ReadLocker(*locker, request, writes_on_locker, deadline, response);
      !s.ok()) {
    return s;
  }
  if (writes) {
    bool in_step =
        ReadWrites(*writes, request.writes.size(), deadline, response);
    writes.reset();  // before its connection may go
    if (!in_step) DropHelper(writer_, writer_retry_at_);
  }
  response.received_at = clock_->Now();
  if (!locker->Finish()) {
    return absl::UnavailableError("locker connection out of step");
  }
  // The server said it ends the session while its answers came: its locks
  // are going, and this read took its last words off the socket, where
  // workers look for them (SessionQuiet): end the session now, not at the
  // next Poll(), which may come only after a backoff.
  if (absl::Status s = CheckNotEnding(); !s.ok()) return s;
  return response;
}

std::optional<Pipeline> LockerSession::StartWrites(
    const std::vector<Call>& writes, absl::Time deadline,
    bool* writes_on_locker) {
  // First, so that the writer's backend works while the locker's statements
  // travel. The writer holds no lock: when it fails, the writes go on the
  // locker (as they may have run already, each is written so that running
  // it twice changes nothing), and it is opened again later.
  *writes_on_locker = false;
  if (writes.empty()) return std::nullopt;
  if (!EnsureHelper(writer_, writer_retry_at_)) {
    *writes_on_locker = true;
    return std::nullopt;
  }
  std::optional<Pipeline> wp;
  absl::Status s = [&]() -> absl::Status {
    absl::StatusOr<Pipeline> w = Pipeline::Begin(writer_.get(), *clock_);
    if (!w.ok()) return w.status();
    wp.emplace(std::move(*w));
    for (const Call& c : writes) {
      if (absl::Status s = wp->Send(c); !s.ok()) return s;
    }
    return wp->Flush(deadline);
  }();
  if (!s.ok()) {
    wp.reset();
    DropHelper(writer_, writer_retry_at_);
    *writes_on_locker = true;
  }
  return wp;
}

absl::Status LockerSession::SendLocker(Pipeline& p, const Request& request,
                                       bool writes_on_locker) {
  std::vector<Call> calls;
  if (!request.ack_cancels.empty()) {
    calls.push_back(queries::AckCancels(request.ack_cancels));
  }
  if (request.unlock) calls.push_back(*request.unlock);
  if (writes_on_locker) {
    calls.insert(calls.end(), request.writes.begin(), request.writes.end());
  }
  if (!request.confirm.empty()) {
    calls.push_back(queries::ConfirmBatch(request.confirm));
  }
  if (request.lock) {
    const Lock& l = *request.lock;
    calls.push_back(queries::LockJobs(l.queue, l.want, l.held, l.max_scan,
                                      l.after, l.rewind, l.scope, l.probes,
                                      l.probe_buckets, l.hand));
  } else if (request.hand_op != 0) {
    calls.push_back(queries::HandRelease(request.hand_queue, request.hand_op));
  }
  for (const Call& c : calls) {
    if (absl::Status s = p.Send(c); !s.ok()) return s;
  }
  return absl::OkStatus();
}

namespace {

// Per confirmed id: whether its row is still there under its key.
std::vector<std::pair<int64_t, bool>> ReadConfirm(const PgResult& r) {
  std::vector<std::pair<int64_t, bool>> checked;
  for (int i = 0; i < r.rows(); ++i) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(r.Get(i, 0), &id)) continue;  // not ours, then
    checked.emplace_back(id, r.Get(i, 1) == "t");
  }
  return checked;
}

absl::StatusOr<std::vector<int64_t>> IdsOrError(
    const absl::StatusOr<PgResult>& r) {
  if (!r.ok()) return r.status();
  return ReadIds(*r, 0);
}

}  // namespace

absl::Status LockerSession::ReadLocker(Pipeline& p, const Request& request,
                                       bool writes_on_locker,
                                       absl::Time deadline,
                                       Response& response) {
  // Reads the next result; a poisoned pipeline ends the round trip (its
  // status is the round trip's), a failed statement only marks it.
  absl::StatusOr<PgResult> r;
  auto next = [&]() -> bool {
    r = p.Next(deadline);
    if (!r.ok() && !p.poisoned()) response.any_failed = true;
    return !p.poisoned();
  };
  if (!request.ack_cancels.empty()) {
    if (!next()) return r.status();
    response.acked = IdsOrError(r);
  }
  if (request.unlock) {
    if (!next()) return r.status();
    response.unlock = r.status();
    if (r.ok() && !absl::SimpleAtoi(r->Get(0, 0), &response.not_held)) {
      response.not_held = 0;  // unknown: nothing to report
    }
  }
  if (writes_on_locker) {
    for (size_t i = 0; i < request.writes.size(); ++i) {
      if (!next()) return r.status();
      response.writes.push_back(IdsOrError(r));
    }
  }
  if (!request.confirm.empty()) {
    if (!next()) return r.status();
    if (r.ok()) {
      response.confirm = ReadConfirm(*r);
    } else {
      response.confirm = r.status();
    }
  }
  if (request.lock) {
    if (!next()) return r.status();
    response.lock =
        r.ok() ? ReadLock(*r) : absl::StatusOr<LockResult>(r.status());
  } else if (request.hand_op != 0) {
    if (!next()) return r.status();
    LockResult hand;
    if (r.ok() && r->rows() == 1 &&
        absl::SimpleAtoi(r->Get(0, 1), &hand.limits_version)) {
      hand.hand_held = r->Get(0, 0) == "t";
      hand.change_wanted = r->Get(0, 2) == "t";
      response.hand = std::move(hand);
    }
  }
  return absl::OkStatus();
}

bool LockerSession::ReadWrites(Pipeline& wp, size_t count, absl::Time deadline,
                               Response& response) {
  for (size_t i = 0; i < count; ++i) {
    absl::StatusOr<PgResult> r = wp.Next(deadline);
    if (wp.poisoned()) {
      // The writer is gone or stalled: whether the rest committed is
      // unknown; they count as failed and are written again.
      absl::Status lost = absl::UnavailableError(
          absl::StrCat("writer connection: ",
                       r.ok() ? "out of step" : r.status().ToString()));
      while (response.writes.size() < count) response.writes.push_back(lost);
      response.any_failed = true;
      break;
    }
    if (!r.ok()) response.any_failed = true;
    response.writes.push_back(IdsOrError(r));
  }
  return !wp.poisoned() && wp.Finish();
}

}  // namespace qg::internal
