#include "qg/internal/queries.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "qg/internal/pg.h"

namespace qg::internal {
namespace {

constexpr const char* kColumnNames[] = {"queue",       "priority",  "run_at",
                                        "job_id",      "job_class", "args",
                                        "error_count", "last_error"};

std::string IdArray(absl::Span<const int64_t> ids) {
  return absl::StrCat("{", absl::StrJoin(ids, ","), "}");
}

// The keys as four parallel array parameters (queues, priorities, run_ats,
// ids), each literal built in place: a completion batch of 500 keys is
// formatted in every round trip of a draining pool.
SqlParams KeyArrays(absl::Span<const JobKey> keys) {
  std::string queues = "{", priorities = "{", run_ats = "{", ids = "{";
  queues.reserve(keys.size() * 3 + 2);
  priorities.reserve(keys.size() * 4 + 2);
  run_ats.reserve(keys.size() * 32 + 2);
  ids.reserve(keys.size() * 12 + 2);
  for (size_t i = 0; i < keys.size(); ++i) {
    const JobKey& k = keys[i];
    if (i > 0) {
      queues.push_back(',');
      priorities.push_back(',');
      run_ats.push_back(',');
      ids.push_back(',');
    }
    AppendArrayElement(k.queue, queues);
    absl::StrAppend(&priorities, k.priority);
    AppendArrayElement(k.run_at_text, run_ats);
    absl::StrAppend(&ids, k.id);
  }
  // Moved into the parameters one by one: a braced list would copy them.
  SqlParams params;
  params.reserve(4);
  for (std::string* a : {&queues, &priorities, &run_ats, &ids}) {
    a->push_back('}');
    params.emplace_back(std::move(*a));
  }
  return params;
}

// Where each of `keys`' rows was last read (JobKey::row_tid), as a tid[]
// parameter parallel to KeyArrays' (NULL where unknown).
std::string RowTids(absl::Span<const JobKey> keys) {
  std::string out = "{";
  out.reserve(keys.size() * 12 + 2);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (keys[i].row_tid.empty()) {
      out += "NULL";
    } else {
      AppendArrayElement(keys[i].row_tid, out);
    }
  }
  out.push_back('}');
  return out;
}

// The queues of `keys`, each once, as an array parameter (a batch has a
// queue or two: ArrayLiteral's copies cost nothing here).
std::string DistinctQueues(absl::Span<const JobKey> keys) {
  std::vector<std::string> queues;
  for (const JobKey& k : keys) {
    if (std::find(queues.begin(), queues.end(), k.queue) == queues.end()) {
      queues.push_back(k.queue);
    }
  }
  return ArrayLiteral(queues);
}

SqlParams InsertParams(const InsertRow& row) {
  return {row.queue, absl::StrCat(row.priority),
          row.run_at ? SqlParam(FormatTimestamp(*row.run_at)) : SqlParam(),
          row.type, row.args};
}

}  // namespace

std::string DelayParam(absl::Duration delay) {
  if (delay == absl::InfiniteDuration()) return "Infinity";
  return absl::StrCat(absl::ToDoubleSeconds(delay));
}

absl::StatusOr<PgResult> Run(PGconn* conn, const Call& call) {
  absl::StatusOr<PgResult> r;
  if (call.params.empty() && call.statement->params == 0) {
    r = ExecSimple(conn, call.statement->text);
  } else {
    r = Exec(conn, call.statement->text, call.params);
  }
  if (!r.ok()) {
    // Exec names the statement by its first characters; say its name, and
    // keep the SQLSTATE payload (callers tell a missing table by it).
    absl::Status named(
        r.status().code(),
        absl::StrCat(call.statement->name, ": ", r.status().message()));
    r.status().ForEachPayload(
        [&](absl::string_view url, const absl::Cord& payload) {
          named.SetPayload(url, payload);
        });
    return named;
  }
  return r;
}

absl::StatusOr<PgResult> RunPrepared(PGconn* conn, const Call& call) {
  return ExecPrepared(conn, call.statement->name, call.params);
}

absl::StatusOr<JobRowReader> JobRowReader::For(
    const std::vector<std::string>& columns) {
  JobRowReader reader;
  for (int c = 0; c < kColumns; ++c) {
    reader.index_[c] = -1;
    for (size_t i = 0; i < columns.size(); ++i) {
      if (columns[i] == kColumnNames[c]) {
        reader.index_[c] = static_cast<int>(i);
        break;
      }
    }
    if (reader.index_[c] < 0) {
      return absl::InternalError(
          absl::StrCat("que_jobs row without a ", kColumnNames[c], " column"));
    }
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == "row_tid") reader.row_tid_index_ = static_cast<int>(i);
  }
  return reader;
}

absl::StatusOr<JobRowReader> JobRowReader::For(const PgResult& result) {
  std::vector<std::string> columns;
  for (int c = 0; c < result.cols(); ++c) {
    columns.emplace_back(PQfname(result.get(), c));
  }
  return For(columns);
}

absl::StatusOr<JobRow> JobRowReader::Read(const PgResult& result,
                                          int row) const {
  return Read([&](int c) -> std::optional<absl::string_view> {
    if (result.IsNull(row, c)) return std::nullopt;
    return result.Get(row, c);
  });
}

absl::StatusOr<JobRow> JobRowReader::Parse(
    const std::optional<absl::string_view> (&fields)[kColumns]) const {
  auto bad = [&](int c) {
    return absl::InternalError(
        absl::StrCat("cannot read que_jobs.", kColumnNames[c], " = \"",
                     fields[c].has_value() ? *fields[c] : "NULL", "\""));
  };
  JobRow row;
  int32_t priority = 0;
  if (!fields[kQueue] || !fields[kJobClass] || !fields[kArgs]) {
    return bad(!fields[kQueue]      ? kQueue
               : !fields[kJobClass] ? kJobClass
                                    : kArgs);
  }
  row.key.queue = std::string(*fields[kQueue]);
  if (!fields[kPriority] || !absl::SimpleAtoi(*fields[kPriority], &priority) ||
      priority < -32768 || priority > 32767) {
    return bad(kPriority);
  }
  row.key.priority = static_cast<int16_t>(priority);
  if (!fields[kJobId] || !absl::SimpleAtoi(*fields[kJobId], &row.key.id)) {
    return bad(kJobId);
  }
  if (!fields[kRunAt]) return bad(kRunAt);
  row.key.run_at_text = std::string(*fields[kRunAt]);
  absl::StatusOr<absl::Time> run_at = ParseTimestamp(row.key.run_at_text);
  if (!run_at.ok()) return bad(kRunAt);
  row.key.run_at = *run_at;
  row.type = std::string(*fields[kJobClass]);
  row.args = std::string(*fields[kArgs]);
  if (!fields[kErrorCount] ||
      !absl::SimpleAtoi(*fields[kErrorCount], &row.error_count)) {
    return bad(kErrorCount);
  }
  if (fields[kLastError]) row.last_error = std::string(*fields[kLastError]);
  return row;
}

absl::StatusOr<std::vector<int64_t>> ReadIds(const PgResult& result,
                                             int column) {
  std::vector<int64_t> ids;
  ids.reserve(result.rows());
  for (int i = 0; i < result.rows(); ++i) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(result.Get(i, column), &id)) {
      return absl::InternalError(absl::StrCat("expected a job id, got \"",
                                              result.Get(i, column), "\""));
    }
    ids.push_back(id);
  }
  return ids;
}

namespace queries {

Call LockJob(absl::string_view queue) {
  return {&sql::kLockJob, {std::string(queue)}};
}

Call CheckJob(const JobKey& key) {
  return {&sql::kCheckJob,
          {key.queue, absl::StrCat(key.priority), key.run_at_text,
           absl::StrCat(key.id)}};
}

Call DeleteJob(const JobKey& key) {
  return {&sql::kDeleteJob,
          {key.queue, absl::StrCat(key.priority), key.run_at_text,
           absl::StrCat(key.id)}};
}

namespace {

std::optional<std::string> AgoParam(const std::optional<double>& ago) {
  if (!ago.has_value()) return std::nullopt;
  return absl::StrCat(*ago);
}

std::optional<std::string> OptionalSeconds(
    const std::optional<absl::Duration>& d) {
  if (!d.has_value()) return std::nullopt;
  return absl::StrCat(absl::ToDoubleSeconds(*d));
}

}  // namespace

Call FinishJob(const JobFinish& f) {
  return {&sql::kFinishJob,
          {f.key.queue, absl::StrCat(f.key.priority), f.key.run_at_text,
           absl::StrCat(f.key.id), absl::StrCat(f.started_ago),
           f.output.has_value() ? SqlParam(*f.output) : SqlParam()}};
}

Call SetErrorHistory(const JobError& e) {
  std::optional<std::string> started = AgoParam(e.started_ago);
  return {
      &sql::kSetErrorHistory,
      {absl::StrCat(e.error_count), DelayParam(e.delay), e.message, e.key.queue,
       absl::StrCat(e.key.priority), e.key.run_at_text, absl::StrCat(e.key.id),
       started.has_value() ? SqlParam(*started) : SqlParam()}};
}

Call SetError(const JobError& e) {
  return {&sql::kSetError,
          {absl::StrCat(e.error_count), DelayParam(e.delay), e.message,
           e.key.queue, absl::StrCat(e.key.priority), e.key.run_at_text,
           absl::StrCat(e.key.id)}};
}

Call SnoozeJob(const JobSnooze& s) {
  return {&sql::kSnoozeJob,
          {DelayParam(s.delay), s.key.queue, absl::StrCat(s.key.priority),
           s.key.run_at_text, absl::StrCat(s.key.id)}};
}

Call SnoozeBatch(absl::Span<const JobSnooze> snoozes) {
  std::vector<JobKey> keys;
  std::vector<std::string> delays;
  for (const JobSnooze& s : snoozes) {
    keys.push_back(s.key);
    delays.push_back(DelayParam(s.delay));
  }
  SqlParams p = KeyArrays(keys);
  p.push_back(ArrayLiteral(delays));
  return {&sql::kSnoozeBatch, std::move(p)};
}

Call SnoozeById(absl::Span<const JobSnooze> snoozes) {
  std::vector<int64_t> ids;
  std::vector<std::string> delays;
  for (const JobSnooze& s : snoozes) {
    ids.push_back(s.key.id);
    delays.push_back(DelayParam(s.delay));
  }
  return {&sql::kSnoozeById, {IdArray(ids), ArrayLiteral(delays)}};
}

Call CountJobs(absl::Span<const JobCount> counts) {
  std::vector<std::string> cols[8];
  for (const JobCount& c : counts) {
    cols[0].push_back(FormatTimestamp(c.minute));
    cols[1].push_back(c.queue);
    cols[2].push_back(c.type);
    cols[3].push_back(absl::StrCat(c.ends.completed));
    cols[4].push_back(absl::StrCat(c.ends.retried));
    cols[5].push_back(absl::StrCat(c.ends.dead));
    cols[6].push_back(absl::StrCat(c.ends.snoozed));
    cols[7].push_back(absl::StrCat(c.ends.cancelled));
  }
  SqlParams p;
  for (auto& col : cols) p.push_back(ArrayLiteral(col));
  return {&sql::kCountJobs, std::move(p)};
}

Call SetPaused(absl::string_view queue, bool paused) {
  return {&sql::kSetPaused, {std::string(queue), paused ? "true" : "false"}};
}
Call PausedQueues() { return {&sql::kPausedQueues, {}}; }
Call QueuePaused(absl::string_view queue) {
  return {&sql::kQueuePaused, {std::string(queue)}};
}
Call QueueLimited(absl::string_view queue) {
  return {&sql::kQueueLimited, {std::string(queue)}};
}
Call CancelUnheld(int64_t id, absl::string_view message) {
  return {&sql::kCancelUnheld, {absl::StrCat(id), std::string(message)}};
}
Call CancelUnheldHistory(int64_t id, absl::string_view message) {
  return {&sql::kCancelUnheldHistory, {absl::StrCat(id), std::string(message)}};
}
Call HasHistory() { return {&sql::kHasHistory, {}}; }
Call HistoryPrivileges() { return {&sql::kHistoryPrivileges, {}}; }
Call HistoryGet(int64_t id, int max_chars) {
  return {&sql::kHistoryGet, {absl::StrCat(id), absl::StrCat(max_chars)}};
}
Call HistoryRevive(int64_t id) {
  return {&sql::kHistoryRevive, {absl::StrCat(id)}};
}
Call HistoryPruneCut() { return {&sql::kHistoryPruneCut, {}}; }
Call HistoryPrune(const std::optional<std::string>& before,
                  const std::optional<std::string>& max_at,
                  const std::optional<std::string>& max_id, int batch) {
  auto opt = [](const std::optional<std::string>& v) {
    return v.has_value() ? SqlParam(*v) : SqlParam();
  };
  return {&sql::kHistoryPrune,
          {opt(before), opt(max_at), opt(max_id), absl::StrCat(batch)}};
}
Call HistorySettings() { return {&sql::kHistorySettings, {}}; }
Call HistorySetQueue(absl::string_view queue, std::optional<bool> on) {
  return {&sql::kHistorySetQueue,
          {std::string(queue),
           on.has_value() ? SqlParam(*on ? "true" : "false") : SqlParam()}};
}
Call HistorySetDefault(std::optional<bool> all_queues,
                       std::optional<std::optional<absl::Duration>> keep,
                       std::optional<std::optional<int64_t>> max_records) {
  std::optional<std::string> keep_s =
      keep.has_value() ? OptionalSeconds(*keep) : std::nullopt;
  std::optional<std::string> max_s;
  if (max_records.has_value() && max_records->has_value()) {
    max_s = absl::StrCat(**max_records);
  }
  return {&sql::kHistorySetDefault,
          {all_queues.has_value() ? SqlParam(*all_queues ? "true" : "false")
                                  : SqlParam(),
           keep.has_value() ? "true" : "false",
           keep_s.has_value() ? SqlParam(*keep_s) : SqlParam(),
           max_records.has_value() ? "true" : "false",
           max_s.has_value() ? SqlParam(*max_s) : SqlParam()}};
}
Call HistoryList(const HistoryListParams& p) {
  auto opt = [](const std::optional<std::string>& v) {
    return v.has_value() ? SqlParam(*v) : SqlParam();
  };
  auto time = [](const std::optional<absl::Time>& t) {
    return t.has_value() ? SqlParam(FormatTimestamp(*t)) : SqlParam();
  };
  return {&sql::kHistoryList,
          {opt(p.queue), opt(p.type), opt(p.outcome), time(p.finished_from),
           time(p.finished_before), opt(p.after_finished_at),
           p.after_finished_at.has_value() ? SqlParam(absl::StrCat(p.after_id))
                                           : SqlParam(),
           absl::StrCat(p.limit), absl::StrCat(p.max_chars)}};
}

Call RequestCancel(int64_t id, absl::Duration expires_in) {
  return {&sql::kRequestCancel,
          {absl::StrCat(id), absl::StrCat(absl::ToDoubleSeconds(expires_in))}};
}
Call CancelAcknowledged(int64_t id) {
  return {&sql::kCancelAcknowledged, {absl::StrCat(id)}};
}
Call WithdrawCancel(int64_t id, bool acknowledged_too) {
  return {&sql::kWithdrawCancel,
          {absl::StrCat(id), acknowledged_too ? "true" : "false"}};
}
Call AckCancels(absl::Span<const int64_t> ids) {
  return {&sql::kAckCancels, {IdArray(ids)}};
}
Call PendingCancels() { return {&sql::kPendingCancels, {}}; }

Call ListenControl() { return {&sql::kListenControl, {}}; }

Call TrimCounts(absl::Duration keep) {
  return {&sql::kTrimCounts, {DelayParam(keep)}};
}

Call UnlockJob(int64_t id) { return {&sql::kUnlockJob, {absl::StrCat(id)}}; }

Call TryLockJob(int64_t id) { return {&sql::kTryLockJob, {absl::StrCat(id)}}; }

Call InsertJob(const InsertRow& row) {
  return {&sql::kInsertJob, InsertParams(row)};
}

Call InsertJobReturningRow(const InsertRow& row) {
  return {&sql::kInsertJobReturningRow, InsertParams(row)};
}

Call EnqueueChild(const InsertRow& row) {
  SqlParams params = InsertParams(row);
  params.push_back(row.limit_key ? SqlParam(*row.limit_key) : SqlParam());
  params.push_back(IdArray(row.depends_on));
  params.push_back(row.cancel_on_parent_failure ? "t" : "f");
  params.push_back(row.batch_id ? SqlParam(absl::StrCat(*row.batch_id))
                                : SqlParam());
  return {&sql::kEnqueueChild, std::move(params)};
}

Call JobParents(int64_t id) { return {&sql::kJobParents, {absl::StrCat(id)}}; }

Call BatchCreate(const std::string& description,
                 const std::optional<InsertRow>& on_success,
                 const std::optional<InsertRow>& on_finish) {
  SqlParams p = {description};
  for (const std::optional<InsertRow>* cb : {&on_success, &on_finish}) {
    if (cb->has_value()) {
      p.push_back((*cb)->queue);
      p.push_back(absl::StrCat((*cb)->priority));
      p.push_back((*cb)->type);
      p.push_back((*cb)->args);
    } else {
      p.insert(p.end(), 4, SqlParam());
    }
  }
  return {&sql::kBatchCreate, std::move(p)};
}

Call BatchSeal(int64_t id) { return {&sql::kBatchSeal, {absl::StrCat(id)}}; }

Call BatchGet(int64_t id) { return {&sql::kBatchGet, {absl::StrCat(id)}}; }

Call BatchList(bool open_only, int limit) {
  return {&sql::kBatchList, {open_only ? "t" : "f", absl::StrCat(limit)}};
}

Call WorkflowGraph(int64_t id, int max_nodes) {
  return {&sql::kWorkflowGraph, {absl::StrCat(id), absl::StrCat(max_nodes)}};
}

Call InsertMany(absl::Span<const InsertRow> rows) {
  std::vector<SqlParam> queues, priorities, run_ats, types, args;
  for (const InsertRow& row : rows) {
    SqlParams p = InsertParams(row);
    queues.push_back(std::move(p[0]));
    priorities.push_back(std::move(p[1]));
    run_ats.push_back(std::move(p[2]));
    types.push_back(std::move(p[3]));
    args.push_back(std::move(p[4]));
  }
  return {&sql::kInsertMany,
          {ArrayLiteral(queues), ArrayLiteral(priorities),
           ArrayLiteral(run_ats), ArrayLiteral(types), ArrayLiteral(args)}};
}

Call TransactionNow() { return {&sql::kTransactionNow, {}}; }
Call DbClock() { return {&sql::kDbClock, {}}; }
Call JobStats() { return {&sql::kJobStats, {}}; }
Call DeadJobs(int limit) { return {&sql::kDeadJobs, {absl::StrCat(limit)}}; }
Call RetryJob(int64_t id) { return {&sql::kRetryJob, {absl::StrCat(id)}}; }
Call InspectSchema() { return {&sql::kInspectSchema, {}}; }
Call MigrateLock() { return {&sql::kMigrateLock, {}}; }
Call GetJob(int64_t id, int max_chars) {
  return {&sql::kGetJob, {absl::StrCat(id), absl::StrCat(max_chars)}};
}
Call JobHeld(int64_t id) { return {&sql::kJobHeld, {absl::StrCat(id)}}; }

Call ListJobs(const ListJobsParams& p) {
  SqlParams params = {p.queue, p.type, p.state, p.error_contains};
  if (p.after.has_value()) {
    params.push_back(p.after->queue);
    params.push_back(absl::StrCat(p.after->priority));
    params.push_back(p.after->run_at_text.empty()
                         ? FormatTimestamp(p.after->run_at)
                         : p.after->run_at_text);
    params.push_back(absl::StrCat(p.after->id));
  } else {
    params.insert(params.end(), 4, std::nullopt);
  }
  params.push_back(absl::StrCat(p.limit));
  params.push_back(p.max_scan.has_value() ? SqlParam(absl::StrCat(*p.max_scan))
                                          : SqlParam());
  return {&sql::kListJobs, std::move(params)};
}

Call TryLockBatch(absl::Span<const int64_t> ids) {
  return {&sql::kTryLockBatch, {IdArray(ids)}};
}

Call RetryBatch(absl::Span<const JobKey> keys) {
  return {&sql::kRetryBatch, KeyArrays(keys)};
}
Call HasLockFunction() { return {&sql::kHasLockFunction, {}}; }
Call LockerSettings() { return {&sql::kLockerSettings, {}}; }
Call Listen() { return {&sql::kListen, {}}; }

Call SessionTimeout(absl::Duration timeout) {
  return {&sql::kSessionTimeout,
          {absl::StrCat(absl::ToInt64Milliseconds(timeout), "ms")}};
}

Call LockJobs(absl::string_view queue, int want, absl::Span<const int64_t> held,
              int max_scan, const std::optional<JobKey>& after,
              const std::optional<JobKey>& rewind, int64_t scope,
              absl::Span<const JobKey> probes,
              absl::Span<const int64_t> probe_buckets, int hand) {
  auto run_at = [](const JobKey& k) {
    return k.run_at_text.empty() ? FormatTimestamp(k.run_at) : k.run_at_text;
  };
  std::vector<std::string> probe_p, probe_r, probe_i;
  for (const JobKey& k : probes) {
    probe_p.push_back(absl::StrCat(k.priority));
    probe_r.push_back(run_at(k));
    probe_i.push_back(absl::StrCat(k.id));
  }
  return {&sql::kLockJobs,
          {std::string(queue), absl::StrCat(want), IdArray(held),
           absl::StrCat(max_scan),
           after ? SqlParam(absl::StrCat(after->priority)) : SqlParam(),
           after ? SqlParam(run_at(*after)) : SqlParam(),
           after ? SqlParam(absl::StrCat(after->id)) : SqlParam(),
           rewind ? SqlParam(absl::StrCat(rewind->priority)) : SqlParam(),
           rewind ? SqlParam(run_at(*rewind)) : SqlParam(),
           rewind ? SqlParam(absl::StrCat(rewind->id)) : SqlParam(),
           absl::StrCat(scope), ArrayLiteral(probe_p), ArrayLiteral(probe_r),
           ArrayLiteral(probe_i), IdArray(probe_buckets), absl::StrCat(hand)}};
}

Call HandRelease(absl::string_view queue, int op) {
  return {&sql::kHandRelease, {std::string(queue), absl::StrCat(op)}};
}

Call ConfirmBatch(absl::Span<const JobKey> keys) {
  return {&sql::kConfirmBatch, KeyArrays(keys)};
}

Call DeleteBatch(absl::Span<const JobKey> keys) {
  return {&sql::kDeleteBatch, KeyArrays(keys)};
}

Call DeleteById(absl::Span<const int64_t> ids) {
  return {&sql::kDeleteById, {IdArray(ids)}};
}

Call FinishBatch(absl::Span<const JobFinish> finishes) {
  std::vector<JobKey> keys;
  std::vector<std::string> started, ended;
  std::vector<std::optional<std::string>> outputs;
  for (const JobFinish& f : finishes) {
    keys.push_back(f.key);
    started.push_back(absl::StrCat(f.started_ago));
    ended.push_back(absl::StrCat(f.ended_ago));
    outputs.push_back(f.output);
  }
  SqlParams p = KeyArrays(keys);
  p.push_back(ArrayLiteral(started));
  p.push_back(ArrayLiteral(ended));
  p.push_back(ArrayLiteral(outputs));
  p.push_back(DistinctQueues(keys));
  return {&sql::kFinishBatch, std::move(p)};
}

Call FinishById(absl::Span<const JobFinish> finishes) {
  std::vector<int64_t> ids;
  std::vector<std::string> started, ended;
  std::vector<std::optional<std::string>> outputs;
  for (const JobFinish& f : finishes) {
    ids.push_back(f.key.id);
    started.push_back(absl::StrCat(f.started_ago));
    ended.push_back(absl::StrCat(f.ended_ago));
    outputs.push_back(f.output);
  }
  return {&sql::kFinishById,
          {IdArray(ids), ArrayLiteral(started), ArrayLiteral(ended),
           ArrayLiteral(outputs)}};
}

Call FinishBatchPlain(absl::Span<const JobKey> keys) {
  SqlParams p = KeyArrays(keys);
  p.push_back(DistinctQueues(keys));
  p.push_back(RowTids(keys));
  return {&sql::kFinishBatchPlain, std::move(p)};
}

namespace {

// The per-row arrays of the error statements, in `errors`' order.
struct ErrorArrays {
  std::vector<JobKey> keys;
  std::vector<int64_t> ids;
  std::vector<std::string> counts, delays, messages;
  std::vector<std::optional<std::string>> started, ended;

  explicit ErrorArrays(absl::Span<const JobError> errors) {
    for (const JobError& e : errors) {
      keys.push_back(e.key);
      ids.push_back(e.key.id);
      counts.push_back(absl::StrCat(e.error_count));
      delays.push_back(DelayParam(e.delay));
      messages.push_back(e.message);
      started.push_back(AgoParam(e.started_ago));
      ended.push_back(AgoParam(e.ended_ago));
    }
  }
};

}  // namespace

Call ErrorBatchPlain(absl::Span<const JobError> errors) {
  ErrorArrays a(errors);
  SqlParams p = KeyArrays(a.keys);
  p.push_back(DistinctQueues(a.keys));
  p.push_back(ArrayLiteral(a.counts));
  p.push_back(ArrayLiteral(a.delays));
  p.push_back(ArrayLiteral(a.messages));
  p.push_back(ArrayLiteral(a.started));
  return {&sql::kErrorBatchPlain, std::move(p)};
}

Call ErrorBatch(absl::Span<const JobError> errors) {
  ErrorArrays a(errors);
  SqlParams p = KeyArrays(a.keys);
  p.push_back(ArrayLiteral(a.counts));
  p.push_back(ArrayLiteral(a.delays));
  p.push_back(ArrayLiteral(a.messages));
  p.push_back(ArrayLiteral(a.started));
  p.push_back(ArrayLiteral(a.ended));
  p.push_back(DistinctQueues(a.keys));
  return {&sql::kErrorBatch, std::move(p)};
}

Call ErrorById(absl::Span<const JobError> errors) {
  ErrorArrays a(errors);
  return {&sql::kErrorById,
          {IdArray(a.ids), ArrayLiteral(a.counts), ArrayLiteral(a.delays),
           ArrayLiteral(a.messages), ArrayLiteral(a.started),
           ArrayLiteral(a.ended)}};
}

Call UnlockBatch(absl::Span<const int64_t> ids) {
  return {&sql::kUnlockBatch, {IdArray(ids)}};
}

Call NextDue(absl::string_view queue) {
  return {&sql::kNextDue, {std::string(queue)}};
}

Call Sweep(absl::string_view queue, const std::optional<JobKey>& before,
           int want, int max_scan) {
  return {&sql::kSweep,
          {std::string(queue),
           before ? SqlParam(absl::StrCat(before->priority)) : SqlParam(),
           before ? SqlParam(before->run_at_text.empty()
                                 ? FormatTimestamp(before->run_at)
                                 : before->run_at_text)
                  : SqlParam(),
           before ? SqlParam(absl::StrCat(before->id)) : SqlParam(),
           absl::StrCat(want), absl::StrCat(max_scan)}};
}

Call HasUniqueKey() { return {&sql::kHasUniqueKey, {}}; }

Call InsertUniqueJob(const InsertRow& row) {
  SqlParams p = InsertParams(row);
  p.push_back(row.unique_key);
  p.push_back(row.limit_key);
  p.push_back(row.batch_id ? SqlParam(absl::StrCat(*row.batch_id))
                           : SqlParam());
  return {&sql::kInsertUniqueJob, std::move(p)};
}

Call InsertManyUnique(absl::Span<const InsertRow> rows) {
  Call call = InsertMany(rows);
  call.statement = &sql::kInsertManyUnique;
  std::vector<SqlParam> keys;
  keys.reserve(rows.size());
  std::vector<SqlParam> limit_keys;
  limit_keys.reserve(rows.size());
  std::vector<SqlParam> batches;
  batches.reserve(rows.size());
  for (const InsertRow& row : rows) {
    keys.push_back(row.unique_key);
    limit_keys.push_back(row.limit_key);
    batches.push_back(row.batch_id ? SqlParam(absl::StrCat(*row.batch_id))
                                   : SqlParam());
  }
  call.params.push_back(ArrayLiteral(keys));
  call.params.push_back(ArrayLiteral(limit_keys));
  call.params.push_back(ArrayLiteral(batches));
  return call;
}

Call HasPeriodicTable() { return {&sql::kHasPeriodicTable, {}}; }

Call PeriodicClaim(absl::string_view name, absl::string_view schedule,
                   absl::string_view time_zone, absl::Time last_occurrence) {
  return {&sql::kPeriodicClaim,
          {std::string(name), std::string(schedule), std::string(time_zone),
           FormatTimestamp(last_occurrence)}};
}

Call PeriodicLock(absl::string_view name) {
  return {&sql::kPeriodicLock, {std::string(name)}};
}

Call PeriodicRecord(const internal::PeriodicRecord& r) {
  return {&sql::kPeriodicRecord,
          {r.name, FormatTimestamp(r.last_occurrence),
           r.last_job_id ? SqlParam(absl::StrCat(*r.last_job_id)) : SqlParam(),
           r.schedule, r.time_zone}};
}

Call PeriodicHeartbeat(const std::vector<std::string>& names) {
  return {&sql::kPeriodicHeartbeat, {ArrayLiteral(names)}};
}

Call PeriodicList(absl::Duration registered_within) {
  return {&sql::kPeriodicList,
          {absl::StrCat(absl::ToDoubleSeconds(registered_within))}};
}

Call PeriodicRemove(absl::string_view name) {
  return {&sql::kPeriodicRemove, {std::string(name)}};
}

Call PeriodicNow() { return {&sql::kPeriodicNow, {}}; }

Call ConsoleTables() { return {&sql::kConsoleTables, {}}; }

Call ConsoleOverview() { return {&sql::kConsoleOverview, {}}; }

Call ConsoleQueues() { return {&sql::kConsoleQueues, {}}; }

Call ConsoleThroughput(int minutes, const std::optional<std::string>& queue,
                       const std::optional<std::string>& type) {
  return {&sql::kConsoleThroughput, {absl::StrCat(minutes), queue, type}};
}

}  // namespace queries
}  // namespace qg::internal

namespace qg::internal {

absl::StatusOr<FinishedRow> ReadFinishedRow(const PgResult& r, int row) {
  FinishedRow f;
  auto bad = [&](int col) {
    return absl::InternalError(absl::StrCat("qg_job_history: column ", col,
                                            " is not what it should be: \"",
                                            r.Get(row, col), "\""));
  };
  auto int64 = [&](int col, int64_t* out) {
    if (r.IsNull(row, col)) {
      *out = 0;
      return true;
    }
    return absl::SimpleAtoi(r.Get(row, col), out);
  };
  auto time = [&](int col, std::optional<absl::Time>* out) {
    if (r.IsNull(row, col)) return true;
    double s = 0;
    if (!absl::SimpleAtod(r.Get(row, col), &s)) return false;
    *out = absl::FromUnixMicros(
        static_cast<int64_t>(s * 1e6 + (s < 0 ? -0.5 : 0.5)));
    return true;
  };
  int64_t v = 0;
  if (!int64(0, &f.id)) return bad(0);
  f.queue = std::string(r.Get(row, 1));
  if (!int64(2, &v)) return bad(2);
  f.priority = static_cast<int16_t>(v);
  f.type = std::string(r.Get(row, 3));
  f.args = std::string(r.Get(row, 4));
  if (!int64(5, &f.args_bytes)) return bad(5);
  f.outcome = std::string(r.Get(row, 6));
  if (!int64(7, &v)) return bad(7);
  f.attempts = static_cast<int32_t>(v);
  if (!time(8, &f.enqueued_at)) return bad(8);
  if (!time(9, &f.first_started_at)) return bad(9);
  if (!time(10, &f.started_at)) return bad(10);
  std::optional<absl::Time> finished;
  if (!time(11, &finished) || !finished.has_value()) return bad(11);
  f.finished_at = *finished;
  if (!r.IsNull(row, 12)) {
    double s = 0;
    if (!absl::SimpleAtod(r.Get(row, 12), &s)) return bad(12);
    f.run_time = absl::Microseconds(static_cast<int64_t>(s * 1e6 + 0.5));
  }
  f.last_error = r.GetOptional(row, 13);
  if (!int64(14, &f.last_error_bytes)) return bad(14);
  f.output = r.GetOptional(row, 15);
  if (!int64(16, &f.output_bytes)) return bad(16);
  if (r.cols() > 17) f.finished_at_text = std::string(r.Get(row, 17));
  return f;
}

}  // namespace qg::internal
