#include "qg/history.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "qg/internal/job_ops.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"

namespace qg {
namespace {

namespace queries = internal::queries;

constexpr std::pair<JobOutcome, absl::string_view> kOutcomeNames[] = {
    {JobOutcome::kCompleted, "completed"},
    {JobOutcome::kDead, "dead"},
    {JobOutcome::kCancelled, "cancelled"},
};

absl::StatusOr<FinishedJob> ToFinished(internal::FinishedRow row) {
  absl::StatusOr<JobOutcome> outcome = ParseJobOutcome(row.outcome);
  if (!outcome.ok()) return outcome.status();
  FinishedJob f;
  f.id = row.id;
  f.queue = std::move(row.queue);
  f.type = std::move(row.type);
  f.priority = row.priority;
  f.outcome = *outcome;
  f.attempts = row.attempts;
  f.enqueued_at = row.enqueued_at;
  f.first_started_at = row.first_started_at;
  f.started_at = row.started_at;
  f.run_time = row.run_time;
  f.finished_at = row.finished_at;
  f.args = std::move(row.args);
  f.args_bytes = row.args_bytes;
  f.last_error = std::move(row.last_error);
  f.last_error_bytes = row.last_error_bytes;
  f.output = std::move(row.output);
  f.output_bytes = row.output_bytes;
  return f;
}

}  // namespace

absl::string_view JobOutcomeName(JobOutcome outcome) {
  for (const auto& [o, name] : kOutcomeNames) {
    if (o == outcome) return name;
  }
  return "unknown";
}

absl::StatusOr<JobOutcome> ParseJobOutcome(absl::string_view name) {
  for (const auto& [o, n] : kOutcomeNames) {
    if (n == name) return o;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown job outcome \"", name, "\"; one of completed, dead, cancelled"));
}

absl::string_view JobPhaseName(JobPhase phase) {
  switch (phase) {
    case JobPhase::kWaiting:
      return "waiting";
    case JobPhase::kRunning:
      return "running";
    case JobPhase::kFinished:
      return "finished";
    case JobPhase::kUnknown:
      break;
  }
  return "unknown";
}

std::string HistoryCursor::Encode() const {
  return absl::StrCat(id, ",", finished_at);
}

absl::StatusOr<HistoryCursor> HistoryCursor::Decode(absl::string_view text) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits(',', 1));
  HistoryCursor c;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &c.id) ||
      !ParseTimestamp(parts[1]).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text,
        "\" is not a history cursor (ID,FINISHED_AT as a listing prints it)"));
  }
  c.finished_at = std::string(parts[1]);
  return c;
}

bool HistorySettings::on(absl::string_view queue) const {
  for (const auto& [q, on] : queues) {
    if (q == queue) return on;
  }
  return all_queues;
}

namespace internal {

absl::StatusOr<JobLookup> LookUpJob(PGconn* conn, int64_t id, int max_chars) {
  JobLookup out;
  // que_jobs first, then the record: a job finishes by leaving the one for
  // the other in one statement, so a job read in neither is unknown.
  absl::StatusOr<PgResult> r = Run(conn, queries::GetJob(id, max_chars));
  if (!r.ok()) return r.status();
  if (r->rows() == 1) {
    absl::StatusOr<JobRecord> rec = ReadJobRecord(*r, 0);
    if (!rec.ok()) return rec.status();
    out.phase = rec->working() ? JobPhase::kRunning : JobPhase::kWaiting;
    out.job = std::move(*rec);
    return out;
  }
  absl::StatusOr<bool> history = HasHistory(conn);
  if (!history.ok()) return history.status();
  if (!*history) return out;
  r = Run(conn, queries::HistoryGet(id, max_chars));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return out;
  absl::StatusOr<FinishedRow> row = ReadFinishedRow(*r, 0);
  if (!row.ok()) return row.status();
  absl::StatusOr<FinishedJob> f = ToFinished(std::move(*row));
  if (!f.ok()) return f.status();
  out.phase = JobPhase::kFinished;
  out.finished = std::move(*f);
  return out;
}

absl::StatusOr<HistoryPage> ListHistory(
    PGconn* conn, const HistoryFilter& filter, int limit,
    const std::optional<HistoryCursor>& after) {
  if (limit < 1 || limit > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("a page holds 1 to 10000 records, not ", limit));
  }
  HistoryListParams p;
  p.queue = filter.queue;
  p.type = filter.type;
  if (filter.outcome.has_value()) {
    p.outcome = std::string(JobOutcomeName(*filter.outcome));
  }
  p.finished_from = filter.finished_from;
  p.finished_before = filter.finished_before;
  if (after.has_value()) {
    p.after_finished_at = after->finished_at;
    p.after_id = after->id;
  }
  p.limit = limit;
  absl::StatusOr<PgResult> r = Run(conn, queries::HistoryList(p));
  if (!r.ok()) return r.status();
  HistoryPage page;
  std::string last_finished;
  for (int i = 0; i < r->rows(); ++i) {
    absl::StatusOr<FinishedRow> row = ReadFinishedRow(*r, i);
    if (!row.ok()) return row.status();
    last_finished = row->finished_at_text;
    absl::StatusOr<FinishedJob> f = ToFinished(std::move(*row));
    if (!f.ok()) return f.status();
    page.jobs.push_back(std::move(*f));
  }
  if (static_cast<int>(page.jobs.size()) == limit) {
    page.next = HistoryCursor{last_finished, page.jobs.back().id};
  }
  return page;
}

absl::StatusOr<HistorySettings> ReadHistorySettings(PGconn* conn) {
  absl::StatusOr<PgResult> r = Run(conn, queries::HistorySettings());
  if (!r.ok()) return r.status();
  HistorySettings s;
  for (int i = 0; i < r->rows(); ++i) {
    bool on = r->Get(i, 1) == "t";
    if (!r->IsNull(i, 0)) {
      s.queues.emplace_back(std::string(r->Get(i, 0)), on);
      continue;
    }
    s.all_queues = on;
    s.keep.reset();
    if (!r->IsNull(i, 2)) {
      double seconds = 0;
      if (!absl::SimpleAtod(r->Get(i, 2), &seconds)) {
        return absl::InternalError("qg_history_settings: keep is no number");
      }
      s.keep = absl::Seconds(seconds);
    }
    s.max_records.reset();
    if (!r->IsNull(i, 3)) {
      int64_t n = 0;
      if (!absl::SimpleAtoi(r->Get(i, 3), &n)) {
        return absl::InternalError(
            "qg_history_settings: max_records is no number");
      }
      s.max_records = n;
    }
  }
  return s;
}

}  // namespace internal
}  // namespace qg
