#include "qg/admin.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "qg/executor.h"
#include "qg/internal/conn_pool.h"
#include "qg/internal/job_ops.h"
#include "qg/internal/pooler.h"
#include "qg/internal/queries.h"
#include "qg/internal/schema_state.h"
#include "qg/internal/sql.h"
#include "qg/json_writer.h"
#include "qg/pg.h"
#include "schema/schema.h"

namespace qg {
namespace {

namespace queries = internal::queries;
using internal::PooledConn;

constexpr int kMaxPageLimit = 10000;
constexpr int kBatch = 500;

constexpr std::pair<JobState, absl::string_view> kStateNames[] = {
    {JobState::kAny, "any"},           {JobState::kReady, "ready"},
    {JobState::kRunnable, "runnable"}, {JobState::kScheduled, "scheduled"},
    {JobState::kWorking, "working"},   {JobState::kErrored, "errored"},
    {JobState::kDead, "dead"},
};

internal::ListJobsParams ListParams(const JobFilter& filter, int limit,
                                    const std::optional<JobCursor>& after) {
  internal::ListJobsParams p;
  p.queue = filter.queue;
  p.type = filter.type;
  p.state = std::string(JobStateName(filter.state));
  if (!filter.error_contains.empty()) p.error_contains = filter.error_contains;
  if (after.has_value()) {
    internal::JobKey key;
    key.queue = after->queue;
    key.priority = after->priority;
    key.run_at = after->run_at;
    key.id = after->id;
    p.after = std::move(key);
  }
  p.limit = limit;
  return p;
}

// The key of a row (qg_list_jobs' 'end' row).
absl::StatusOr<JobCursor> ReadCursor(const PgResult& r, int row) {
  JobCursor c;
  int queue = PQfnumber(r.get(), "queue");
  int priority = PQfnumber(r.get(), "priority");
  int run_at = PQfnumber(r.get(), "run_at");
  int id = PQfnumber(r.get(), "job_id");
  int32_t p = 0;
  if (queue < 0 || priority < 0 || run_at < 0 || id < 0 ||
      !absl::SimpleAtoi(r.Get(row, priority), &p) ||
      !absl::SimpleAtoi(r.Get(row, id), &c.id)) {
    return absl::InternalError("cannot read the end of a page of jobs");
  }
  c.queue = std::string(r.Get(row, queue));
  c.priority = static_cast<int16_t>(p);
  absl::StatusOr<absl::Time> t = ParseTimestamp(r.Get(row, run_at));
  if (!t.ok()) return t.status();
  c.run_at = *t;
  return c;
}

// A page of qg_list_jobs: its job rows (in the database's key order: the
// queue's collation is the database's), and where it ends.
absl::StatusOr<JobPage> ReadPage(const PgResult& r, int limit) {
  int kind = PQfnumber(r.get(), "kind");
  if (kind < 0) return absl::InternalError("no kind column");
  JobPage out;
  std::optional<JobCursor> end;
  for (int i = 0; i < r.rows(); ++i) {
    if (r.Get(i, kind) == "end") {
      absl::StatusOr<JobCursor> c = ReadCursor(r, i);
      if (!c.ok()) return c.status();
      end = *c;
      continue;
    }
    absl::StatusOr<JobRecord> rec = internal::ReadJobRecord(r, i);
    if (!rec.ok()) return rec.status();
    out.jobs.push_back(std::move(*rec));
  }
  if (static_cast<int>(out.jobs.size()) == limit) {
    out.next = out.jobs.back().cursor();
  } else if (end.has_value()) {
    out.next = *end;
    out.scan_limited = true;
  }
  return out;
}

internal::JobKey KeyOf(const JobRecord& job) {
  internal::JobKey key;
  key.queue = job.queue;
  key.priority = job.priority;
  key.run_at = job.run_at;
  key.run_at_text = qg::FormatTimestamp(job.run_at);
  key.id = job.id;
  return key;
}

}  // namespace

absl::string_view JobStateName(JobState state) {
  for (const auto& [s, name] : kStateNames) {
    if (s == state) return name;
  }
  return "any";
}

absl::StatusOr<JobState> ParseJobState(absl::string_view name) {
  std::vector<absl::string_view> names;
  for (const auto& [s, n] : kStateNames) {
    if (n == name) return s;
    names.push_back(n);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown job state \"", name, "\"; one of ", absl::StrJoin(names, ", ")));
}

bool StatsReport::paused(absl::string_view queue) const {
  for (const std::string& q : paused_queues) {
    if (q == queue) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<Admin>> Admin::Connect(AdminOptions options) {
  if (options.max_conns < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AdminOptions::max_conns must be at least 1, not ", options.max_conns));
  }
  auto pool = internal::ConnPool::Create(options.conninfo, options.max_conns,
                                         /*on_connect=*/nullptr);
  {
    // Connect now, so that a bad conninfo or an unreachable server is the
    // caller's first error; the connection stays in the pool.
    absl::StatusOr<PooledConn> conn = pool->Acquire(options.acquire_timeout);
    if (!conn.ok()) return conn.status();
  }
  return std::unique_ptr<Admin>(new Admin(std::move(options), std::move(pool)));
}

Admin::Admin(AdminOptions options, std::shared_ptr<internal::ConnPool> pool)
    : options_(std::move(options)), pool_(std::move(pool)) {}

Admin::~Admin() { pool_->Close(); }

absl::StatusOr<PooledConn> Admin::AcquireForSchema() {
  return pool_->Acquire(options_.acquire_timeout);
}

absl::StatusOr<PooledConn> Admin::Acquire() {
  absl::StatusOr<PooledConn> conn = pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok() || schema_ok_.load()) return conn;
  absl::StatusOr<internal::QueSchemaState> state =
      internal::InspectQueSchema(conn->get());
  if (!state.ok()) return state.status();
  if (absl::Status s = internal::QueSchemaStatus(*state); !s.ok()) return s;
  schema_ok_.store(true);
  return conn;
}

absl::StatusOr<MigrateResult> Admin::Migrate() {
  absl::StatusOr<PooledConn> conn = AcquireForSchema();
  if (!conn.ok()) return conn.status();
  absl::StatusOr<std::unique_ptr<PgTx>> tx = PgTx::Begin(conn->get());
  if (!tx.ok()) return tx.status();
  if (absl::StatusOr<PgResult> r =
          internal::Run(conn->get(), queries::MigrateLock());
      !r.ok()) {
    return r.status();
  }
  absl::StatusOr<internal::QueSchemaState> existing =
      internal::InspectQueSchema(conn->get());
  if (!existing.ok()) return existing.status();
  if (existing->kind == internal::QueSchemaState::Kind::kOtherVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("refusing to migrate: ",
                     internal::QueSchemaStatus(*existing).message()));
  }
  for (const char* ddl : {schema::kQueJobsSql, schema::kQgAdditionsSql}) {
    absl::StatusOr<PgResult> r = qg::ExecSimple(conn->get(), ddl);
    if (!r.ok()) return r.status();
  }
  if (absl::Status s = (*tx)->Commit(); !s.ok()) return s;
  schema_ok_.store(true);
  MigrateResult result;
  result.created = existing->kind == internal::QueSchemaState::Kind::kMissing;
  result.schema_version = schema::kQueSchemaVersion;
  return result;
}

absl::StatusOr<std::string> Admin::ReadOnlyReason() {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::Status s =
      internal::RequireWritableServer(conn->get(), "changing jobs");
  return s.ok() ? std::string() : std::string(s.message());
}

absl::StatusOr<StatsReport> Admin::Stats() {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  StatsReport report;
  absl::StatusOr<std::vector<JobStats>> groups = QueryJobStats(exec);
  if (!groups.ok()) return groups.status();
  report.groups = std::move(*groups);
  absl::StatusOr<PgResult> fn =
      internal::Run(conn->get(), queries::HasLockFunction());
  if (!fn.ok()) return fn.status();
  report.fast_path.available = fn->Get(0, 0) == "t";
  report.fast_path.reason =
      report.fast_path.available
          ? "fast: qg_lock_jobs() is installed (a worker pool's locker "
            "session locks jobs in batches, woken by NOTIFY)"
          : "qg-compatible: qg_lock_jobs() is missing or older than this "
            "version calls, so worker pools poll with one connection per "
            "busy worker (run `qg migrate` to add it)";
  absl::StatusOr<std::vector<std::string>> paused =
      internal::PausedQueues(*conn);
  if (!paused.ok()) return paused.status();
  report.paused_queues = std::move(*paused);
  return report;
}

absl::StatusOr<JobPage> Admin::ListJobs(const JobFilter& filter,
                                        const PageRequest& page) {
  if (page.limit < 1 || page.limit > kMaxPageLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page limit must be 1..", kMaxPageLimit, ", not ", page.limit));
  }
  if (page.max_scan < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_scan must be 0 (no bound) or more, not ", page.max_scan));
  }
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  internal::ListJobsParams params = ListParams(filter, page.limit, page.after);
  if (page.max_scan > 0) params.max_scan = page.max_scan;
  absl::StatusOr<PgResult> r =
      internal::Run(conn->get(), queries::ListJobs(params));
  if (!r.ok()) return r.status();
  return ReadPage(*r, page.limit);
}

absl::StatusOr<JobRecord> Admin::GetJob(int64_t id) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::StatusOr<PgResult> r =
      internal::Run(conn->get(), queries::GetJob(id, kShownChars));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) {
    return absl::NotFoundError(absl::StrCat("no job with ID ", id));
  }
  return internal::ReadJobRecord(*r, 0);
}

absl::StatusOr<JobLookup> Admin::LookUpJob(int64_t id) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return internal::LookUpJob(conn->get(), id, kShownChars);
}

absl::StatusOr<std::vector<BatchInfo>> Admin::ListBatches(bool open_only,
                                                          int limit) {
  if (limit < 1 || limit > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("ListBatches: limit must be 1..10000, not ", limit));
  }
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::StatusOr<PgResult> r =
      internal::Run(conn->get(), queries::BatchList(open_only, limit));
  if (!r.ok()) {
    return internal::MissingAdditionsError(r.status(), "batches need");
  }
  std::vector<BatchInfo> batches;
  for (int i = 0; i < r->rows(); ++i) {
    absl::StatusOr<BatchInfo> b = internal::ReadBatchRow(*r, i);
    if (!b.ok()) return b.status();
    batches.push_back(std::move(*b));
  }
  return batches;
}

absl::StatusOr<BatchInfo> Admin::GetBatch(int64_t id) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return internal::GetBatch(conn->get(), id);
}

absl::StatusOr<WorkflowGraph> Admin::GetWorkflow(int64_t id, int max_nodes) {
  if (max_nodes < 1 || max_nodes > 10000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GetWorkflow: max_nodes must be 1..10000, not ", max_nodes));
  }
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::StatusOr<PgResult> r =
      internal::Run(conn->get(), queries::WorkflowGraph(id, max_nodes));
  if (!r.ok()) {
    return internal::MissingAdditionsError(r.status(), "workflows need");
  }
  WorkflowGraph g;
  std::vector<WorkflowGraph::Edge> edges;
  for (int i = 0; i < r->rows(); ++i) {
    int64_t node = 0;
    if (!absl::SimpleAtoi(r->Get(i, 1), &node)) continue;
    if (r->Get(i, 0) == "node") {
      if (r->Get(i, 4) == "unknown" && node == id && r->rows() == 1) break;
      g.nodes.push_back({node, std::string(r->Get(i, 2)),
                         std::string(r->Get(i, 3)), std::string(r->Get(i, 4))});
    } else {
      WorkflowGraph::Edge e;
      e.parent = node;
      if (!absl::SimpleAtoi(r->Get(i, 5), &e.child)) continue;
      if (!r->IsNull(i, 4)) {
        e.state = r->Get(i, 4) == "completed" ? ParentJob::State::kCompleted
                                              : ParentJob::State::kFailed;
      }
      edges.push_back(e);
    }
  }
  // The asked-for job first; one node more than asked means a cut graph.
  std::stable_partition(
      g.nodes.begin(), g.nodes.end(),
      [&](const WorkflowGraph::Node& n) { return n.id == id; });
  if (g.nodes.size() > static_cast<size_t>(max_nodes)) {
    g.truncated = true;
    g.nodes.resize(static_cast<size_t>(max_nodes));
  }
  std::set<int64_t> kept;
  for (const WorkflowGraph::Node& n : g.nodes) kept.insert(n.id);
  for (const WorkflowGraph::Edge& e : edges) {
    if (kept.count(e.parent) > 0 && kept.count(e.child) > 0) {
      g.edges.push_back(e);
    }
  }
  return g;
}

namespace {

// `s`, or FailedPrecondition saying to migrate when job history's table or
// function is missing.
absl::Status HistorySchemaError(const absl::Status& s) {
  return internal::MissingAdditionsError(s, "job history needs");
}

}  // namespace

constexpr absl::Duration kMaxHistoryKeep = absl::Hours(24 * 365 * 1000);

absl::StatusOr<HistoryPage> Admin::ListHistory(
    const HistoryFilter& filter, int limit,
    const std::optional<HistoryCursor>& after) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::StatusOr<HistoryPage> page =
      internal::ListHistory(conn->get(), filter, limit, after);
  if (!page.ok()) return HistorySchemaError(page.status());
  return page;
}

absl::StatusOr<HistorySettings> Admin::GetHistorySettings() {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::StatusOr<HistorySettings> s =
      internal::ReadHistorySettings(conn->get());
  if (!s.ok()) return HistorySchemaError(s.status());
  return s;
}

absl::Status Admin::SetHistory(absl::string_view queue,
                               std::optional<bool> on) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return HistorySchemaError(
      internal::Run(conn->get(), queries::HistorySetQueue(queue, on)).status());
}

absl::Status Admin::SetHistoryDefault(bool all_queues) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return HistorySchemaError(
      internal::Run(conn->get(), queries::HistorySetDefault(
                                     all_queues, std::nullopt, std::nullopt))
          .status());
}

absl::Status Admin::SetHistoryRetention(std::optional<absl::Duration> keep,
                                        std::optional<int64_t> max_records) {
  if (keep.has_value() &&
      (*keep < absl::ZeroDuration() || *keep > kMaxHistoryKeep)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "history retention must be from 0 to 1000 years (8760000h), not ",
        absl::FormatDuration(*keep), " (std::nullopt: no age bound)"));
  }
  if (max_records.has_value() && *max_records < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "history's max_records must not be negative, not ", *max_records));
  }
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return HistorySchemaError(
      internal::Run(conn->get(),
                    queries::HistorySetDefault(std::nullopt, keep, max_records))
          .status());
}

absl::StatusOr<int64_t> Admin::PruneHistory() {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::StatusOr<int64_t> n =
      internal::PruneHistory(conn->get(), 1000, absl::InfiniteDuration());
  if (!n.ok()) return HistorySchemaError(n.status());
  return n;
}

absl::StatusOr<bool> Admin::JobHeld(int64_t id) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::StatusOr<PgResult> r = internal::Run(conn->get(), queries::JobHeld(id));
  if (!r.ok()) return r.status();
  return r->rows() == 1 && r->Get(0, 0) == "t";
}

absl::Status Admin::RetryJob(int64_t id) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return internal::RetryJobUnderLock(*conn, id);
}

absl::StatusOr<RetriedJob> Admin::RetryJobDetailed(int64_t id) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::StatusOr<internal::RetryOutcome> r =
      internal::RetryJobUnderLockDetailed(*conn, id);
  if (!r.ok()) return r.status();
  return RetriedJob{.was_dead = r->was_dead, .was_cancelled = r->was_cancelled};
}

absl::Status Admin::DeleteJob(int64_t id) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return internal::DeleteJobUnderLock(*conn, id);
}

template <typename Change>
absl::StatusOr<BulkResult> Admin::ForEachBatch(const JobFilter& filter,
                                               Change change) {
  BulkResult result;
  std::optional<JobCursor> after;
  while (true) {
    absl::StatusOr<JobPage> page = ListJobs(filter, {kBatch, after});
    if (!page.ok()) return page.status();
    if (page->jobs.empty()) break;
    std::vector<internal::JobKey> keys;
    keys.reserve(page->jobs.size());
    for (const JobRecord& job : page->jobs) keys.push_back(KeyOf(job));
    absl::StatusOr<PooledConn> conn = Acquire();
    if (!conn.ok()) return conn.status();
    absl::StatusOr<internal::BatchOutcome> done = change(*conn, keys);
    if (!done.ok()) return done.status();
    result.changed += done->changed;
    result.skipped_held += done->held;
    result.skipped_moved += done->moved;
    result.skipped_cancelled += done->cancelled;
    // A retried job only moves back in the key order (its run_at never
    // grows), so the walk never meets it again.
    if (!page->next.has_value()) break;
    after = page->next;
  }
  return result;
}

absl::StatusOr<BulkResult> Admin::RetryJobs(const JobFilter& filter) {
  return ForEachBatch(
      filter, [](PooledConn& conn, const std::vector<internal::JobKey>& keys) {
        return internal::RetryKeysUnderLock(conn, keys);
      });
}

absl::StatusOr<BulkResult> Admin::DeleteJobs(const JobFilter& filter) {
  if (!filter.queue.has_value() && !filter.type.has_value() &&
      filter.state == JobState::kAny && filter.error_contains.empty()) {
    return absl::InvalidArgumentError(
        "refusing to delete every job: select a queue, type, state or error "
        "text");
  }
  return ForEachBatch(
      filter, [](PooledConn& conn, const std::vector<internal::JobKey>& keys) {
        return internal::DeleteKeysUnderLock(conn, keys);
      });
}

absl::StatusOr<CancelOutcome> Admin::CancelJob(
    int64_t id, absl::Duration wait, const std::function<bool()>& interrupted) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return internal::CancelJob(*conn, id, wait, interrupted);
}

absl::Status Admin::PauseQueue(absl::string_view queue) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return internal::SetQueuePaused(*conn, queue, true);
}

absl::Status Admin::ResumeQueue(absl::string_view queue) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return internal::SetQueuePaused(*conn, queue, false);
}

absl::StatusOr<std::vector<std::string>> Admin::PausedQueues() {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return internal::PausedQueues(*conn);
}

absl::Status Admin::SetLimit(const Limit& limit) {
  if (absl::Status s = ValidateLimit(limit); !s.ok()) return s;
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  return qg::SetLimit(exec, limit);
}

absl::StatusOr<bool> Admin::RemoveLimit(absl::string_view name) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  return qg::RemoveLimit(exec, name);
}

absl::StatusOr<std::vector<LimitInfo>> Admin::ListLimits() {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  return qg::ListLimits(exec);
}

absl::StatusOr<std::vector<PeriodicInfo>> Admin::ListPeriodic(
    absl::Duration registered_within) {
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  return qg::ListPeriodic(exec, absl::Now(), registered_within);
}

absl::Status Admin::RemovePeriodic(absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError("a periodic schedule name is required");
  }
  absl::StatusOr<PooledConn> conn = Acquire();
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  return qg::RemovePeriodic(exec, name);
}

}  // namespace qg
