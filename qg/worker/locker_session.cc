#include "qg/worker/locker_session.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/internal/pipeline.h"
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
      absl::SimpleAtoi(r.Get(i, scanned_col), &out.scanned);
      out.exhausted = r.Get(i, exhausted_col) == "t";
      int paused_col = PQfnumber(r.get(), "paused");
      out.paused = paused_col >= 0 && r.Get(i, paused_col) == "t";
      out.last = ReadKey(r, i, "priority", "run_at", "job_id");
      out.rewind_stopped =
          ReadKey(r, i, "rewind_priority", "rewind_run_at", "rewind_job_id");
      continue;
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

absl::StatusOr<LockerSession::NextDue> ReadNextDue(const PgResult& r,
                                                   absl::Time sent,
                                                   absl::Time received) {
  LockerSession::NextDue out;
  double due_in = 0, db_now = 0;
  if (r.rows() != 1 || !absl::SimpleAtod(r.Get(0, 1), &db_now)) {
    return absl::InternalError("qg_next_due: unexpected result");
  }
  if (!r.IsNull(0, 0) && absl::SimpleAtod(r.Get(0, 0), &due_in)) {
    out.due_in = absl::Microseconds(std::llround(due_in * 1e6));
  }
  int32_t priority = 0;
  if (!r.IsNull(0, 2) && absl::SimpleAtoi(r.Get(0, 2), &priority)) {
    out.priority = static_cast<int16_t>(priority);
  }
  absl::Time midpoint = sent + (received - sent) / 2;
  out.clock_offset =
      absl::FromUnixMicros(std::llround(db_now * 1e6)) - midpoint;
  return out;
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
        "the database lacks qg_lock_jobs() for the fast worker path: run `qg "
        "migrate` (or apply schema/qg_additions.sql)");
  }
  if (absl::Status s = sql::PrepareAll(conn->get(), sql::LockerStatements());
      !s.ok()) {
    return s;
  }
  for (const Call& call :
       {queries::LockerSettings(), queries::Listen(), queries::ListenControl(),
        queries::SessionTimeout(statement_timeout)}) {
    if (absl::Status s = internal::Run(conn->get(), call).status(); !s.ok()) {
      return s;
    }
  }
  return std::unique_ptr<LockerSession>(
      new LockerSession(std::move(*conn), clock));
}

int LockerSession::socket() const { return PQsocket(conn_.get()); }

absl::Status LockerSession::Poll(std::vector<JobsNotification>* jobs,
                                 std::vector<ControlNotification>* control) {
  if (PQconsumeInput(conn_.get()) != 1 ||
      PQstatus(conn_.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("locker connection lost: ", PQerrorMessage(conn_.get())));
  }
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
  return absl::OkStatus();
}

absl::StatusOr<LockerSession::Response> LockerSession::Run(
    const Request& request, absl::Duration timeout) {
  Response response;
  response.sent_at = clock_->Now();
  absl::Time deadline = response.sent_at + timeout;
  absl::StatusOr<Pipeline> pipeline = Pipeline::Begin(conn_.get(), *clock_);
  if (!pipeline.ok()) return pipeline.status();
  Pipeline& p = *pipeline;
  auto send = [&](const Call& call) -> absl::Status { return p.Send(call); };
  if (!request.ack_cancels.empty()) {
    if (absl::Status s = send(queries::AckCancels(request.ack_cancels));
        !s.ok()) {
      return s;
    }
  }
  if (request.unlock) {
    if (absl::Status s = send(*request.unlock); !s.ok()) return s;
  }
  for (const Call& w : request.writes) {
    if (absl::Status s = send(w); !s.ok()) return s;
  }
  if (!request.confirm.empty()) {
    if (absl::Status s = send(queries::ConfirmBatch(request.confirm)); !s.ok())
      return s;
  }
  if (request.lock) {
    const Lock& l = *request.lock;
    if (absl::Status s = send(queries::LockJobs(l.queue, l.want, l.held,
                                                l.max_scan, l.after, l.rewind));
        !s.ok()) {
      return s;
    }
  }
  if (request.next_due_queue) {
    if (absl::Status s = send(queries::NextDue(*request.next_due_queue));
        !s.ok())
      return s;
  }
  if (absl::Status s = p.Flush(deadline); !s.ok()) return s;

  // Reads the next result; a poisoned pipeline ends the round trip.
  auto next = [&]() -> absl::StatusOr<PgResult> {
    absl::StatusOr<PgResult> r = p.Next(deadline);
    if (!r.ok() && !p.poisoned()) response.any_failed = true;
    return r;
  };
  if (!request.ack_cancels.empty()) {
    absl::StatusOr<PgResult> r = next();
    if (p.poisoned()) return r.status();
    response.acked = r.ok() ? ReadIds(*r, 0)
                            : absl::StatusOr<std::vector<int64_t>>(r.status());
  }
  if (request.unlock) {
    absl::StatusOr<PgResult> r = next();
    if (p.poisoned()) return r.status();
    response.unlock = r.status();
    if (r.ok()) absl::SimpleAtoi(r->Get(0, 0), &response.not_held);
  }
  for (size_t i = 0; i < request.writes.size(); ++i) {
    absl::StatusOr<PgResult> r = next();
    if (p.poisoned()) return r.status();
    if (!r.ok()) {
      response.writes.push_back(r.status());
    } else {
      response.writes.push_back(ReadIds(*r, 0));
    }
  }
  if (!request.confirm.empty()) {
    absl::StatusOr<PgResult> r = next();
    if (p.poisoned()) return r.status();
    if (!r.ok()) {
      response.confirm = r.status();
    } else {
      std::vector<std::pair<int64_t, bool>> checked;
      for (int i = 0; i < r->rows(); ++i) {
        int64_t id = 0;
        absl::SimpleAtoi(r->Get(i, 0), &id);
        checked.emplace_back(id, r->Get(i, 1) == "t");
      }
      response.confirm = std::move(checked);
    }
  }
  if (request.lock) {
    absl::StatusOr<PgResult> r = next();
    if (p.poisoned()) return r.status();
    response.lock =
        r.ok() ? ReadLock(*r) : absl::StatusOr<LockResult>(r.status());
  }
  absl::StatusOr<PgResult> due_result = absl::UnknownError("not asked");
  if (request.next_due_queue) {
    due_result = next();
    if (p.poisoned()) return due_result.status();
  }
  response.received_at = clock_->Now();
  if (request.next_due_queue) {
    response.next_due =
        due_result.ok()
            ? ReadNextDue(*due_result, response.sent_at, response.received_at)
            : absl::StatusOr<NextDue>(due_result.status());
  }
  if (!p.Finish()) {
    return absl::UnavailableError("locker connection out of step");
  }
  return response;
}

}  // namespace qg::internal
