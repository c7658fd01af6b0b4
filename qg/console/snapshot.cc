#include "qg/console/snapshot.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "qg/executor.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"

namespace qg::console {
namespace {

namespace queries = internal::queries;

absl::Status Bad(absl::string_view what, absl::string_view text) {
  return absl::InternalError(
      absl::StrCat("unexpected ", what, " \"", text, "\" in a console view"));
}

absl::StatusOr<int64_t> Int(const PgResult& r, int row, int col,
                            absl::string_view what) {
  if (r.IsNull(row, col)) return 0;
  int64_t v = 0;
  if (!absl::SimpleAtoi(r.Get(row, col), &v)) return Bad(what, r.Get(row, col));
  return v;
}

absl::StatusOr<absl::Time> Time(const PgResult& r, int row, int col) {
  absl::StatusOr<absl::Time> t = qg::ParseTimestamp(r.Get(row, col));
  if (!t.ok()) return Bad("timestamp", r.Get(row, col));
  return *t;
}

int Col(const PgResult& r, const char* name) {
  return PQfnumber(r.get(), name);
}

// Fills `s.has_limits` and `s.limits`, or `s.limits_status` with why not.
// A failure here leaves the rest of the snapshot alone.
void ReadLimits(PGconn* conn, Snapshot& s) {
  PgExecutor exec(conn);
  absl::StatusOr<Rows> exists =
      exec.Query("SELECT to_regclass('qg_limits') IS NOT NULL", {});
  if (!exists.ok()) {
    s.limits_status = exists.status();
    return;
  }
  s.has_limits = exists->rows.size() == 1 && exists->rows[0].size() == 1 &&
                 exists->rows[0][0] == "t";
  if (!s.has_limits) return;
  absl::StatusOr<std::vector<LimitInfo>> limits =
      ListLimits(exec, kLimitMaxScan);
  if (!limits.ok()) {
    s.limits_status = limits.status();
    return;
  }
  s.limits = std::move(*limits);
}

}  // namespace

static absl::StatusOr<std::vector<MinuteCounts>> ReadThroughputRows(
    const PgResult& r) {
  std::vector<MinuteCounts> out;
  const int minute = Col(r, "minute"), completed = Col(r, "completed"),
            retried = Col(r, "retried"), dead = Col(r, "dead"),
            snoozed = Col(r, "snoozed"), cancelled = Col(r, "cancelled");
  if (minute < 0 || completed < 0 || retried < 0 || dead < 0 || snoozed < 0 ||
      cancelled < 0) {
    return absl::InternalError("qg_console_throughput: missing column");
  }
  for (int i = 0; i < r.rows(); ++i) {
    MinuteCounts m;
    absl::StatusOr<absl::Time> t = Time(r, i, minute);
    if (!t.ok()) return t.status();
    m.minute = *t;
    for (auto [col, field] :
         {std::pair{completed, &m.completed}, std::pair{retried, &m.retried},
          std::pair{dead, &m.dead}, std::pair{snoozed, &m.snoozed},
          std::pair{cancelled, &m.cancelled}}) {
      absl::StatusOr<int64_t> v = Int(r, i, col, "count");
      if (!v.ok()) return v.status();
      *field = *v;
    }
    out.push_back(m);
  }
  return out;
}

absl::StatusOr<std::vector<MinuteCounts>> ReadThroughput(
    PGconn* conn, int minutes, const std::optional<std::string>& queue,
    const std::optional<std::string>& type) {
  absl::StatusOr<PgResult> tables =
      internal::Run(conn, queries::ConsoleTables());
  if (!tables.ok()) return tables.status();
  if (tables->rows() != 1 ||
      tables->Get(0, Col(*tables, "has_counts")) != "t") {
    return std::vector<MinuteCounts>{};
  }
  absl::StatusOr<PgResult> r =
      internal::Run(conn, queries::ConsoleThroughput(minutes, queue, type));
  if (!r.ok()) return r.status();
  return ReadThroughputRows(*r);
}

absl::StatusOr<Snapshot> ReadSnapshot(PGconn* conn, int throughput_minutes) {
  Snapshot s;
  s.taken = absl::Now();
  absl::StatusOr<PgResult> tables =
      internal::Run(conn, queries::ConsoleTables());
  if (!tables.ok()) return tables.status();
  if (tables->rows() != 1) return absl::InternalError("qg_console_tables");
  absl::StatusOr<absl::Time> now = Time(*tables, 0, Col(*tables, "db_now"));
  if (!now.ok()) return now.status();
  s.db_now = *now;
  s.has_queue_table = tables->Get(0, Col(*tables, "has_queues")) == "t";
  s.has_counts = tables->Get(0, Col(*tables, "has_counts")) == "t";

  absl::StatusOr<PgResult> r = internal::Run(conn, queries::ConsoleOverview());
  if (!r.ok()) return r.status();
  const int queue = Col(*r, "queue"), type = Col(*r, "job_class"),
            oldest = Col(*r, "oldest_run_at"),
            oldest_ready = Col(*r, "oldest_ready_run_at"),
            db_now = Col(*r, "db_now");
  for (int i = 0; i < r->rows(); ++i) {
    GroupCounts g;
    g.queue = std::string(r->Get(i, queue));
    g.type = std::string(r->Get(i, type));
    for (auto [name, field] :
         {std::pair{"count", &g.count}, std::pair{"ready", &g.ready},
          std::pair{"scheduled", &g.scheduled},
          std::pair{"working", &g.working}, std::pair{"errored", &g.errored},
          std::pair{"dead", &g.dead},
          std::pair{"highest_error_count", &g.highest_error_count}}) {
      absl::StatusOr<int64_t> v = Int(*r, i, Col(*r, name), name);
      if (!v.ok()) return v.status();
      *field = *v;
    }
    absl::StatusOr<absl::Time> t = Time(*r, i, oldest);
    if (!t.ok()) return t.status();
    g.oldest_run_at = *t;
    if (!r->IsNull(i, oldest_ready)) {
      absl::StatusOr<absl::Time> ready = Time(*r, i, oldest_ready);
      if (!ready.ok()) return ready.status();
      absl::StatusOr<absl::Time> row_now = Time(*r, i, db_now);
      if (!row_now.ok()) return row_now.status();
      g.oldest_ready_run_at = *ready;
      g.oldest_ready_age = std::max(absl::ZeroDuration(), *row_now - *ready);
    }
    s.groups.push_back(std::move(g));
  }

  if (s.has_queue_table) {
    absl::StatusOr<PgResult> q = internal::Run(conn, queries::ConsoleQueues());
    if (!q.ok()) return q.status();
    const int name = Col(*q, "queue"), paused = Col(*q, "paused");
    for (int i = 0; i < q->rows(); ++i) {
      s.paused[std::string(q->Get(i, name))] = q->Get(i, paused) == "t";
    }
  }
  if (s.has_counts && throughput_minutes > 0) {
    absl::StatusOr<PgResult> t = internal::Run(
        conn, queries::ConsoleThroughput(throughput_minutes, std::nullopt,
                                         std::nullopt));
    if (!t.ok()) return t.status();
    absl::StatusOr<std::vector<MinuteCounts>> rows = ReadThroughputRows(*t);
    if (!rows.ok()) return rows.status();
    s.throughput = std::move(*rows);
  }
  ReadLimits(conn, s);
  s.took = absl::Now() - s.taken;
  return s;
}

SnapshotCache::SnapshotCache(std::shared_ptr<internal::ConnPool> pool,
                             SnapshotOptions options)
    : pool_(std::move(pool)), options_(std::move(options)) {}

int64_t SnapshotCache::refreshes() const {
  internal::MutexLock lock(mu_);
  return refreshes_;
}

void SnapshotCache::Invalidate() {
  internal::MutexLock lock(mu_);
  entry_.at = absl::InfinitePast();
}

bool SnapshotCache::Fresh() const {
  return absl::Now() - entry_.at < options_.max_age;
}

absl::StatusOr<std::shared_ptr<const Snapshot>> SnapshotCache::Get() {
  internal::MutexLock lock(mu_);
  if (Fresh()) return entry_.value;
  while (refreshing_) {
    // Someone is reading: serve what there is, if anything.
    if (entry_.value.ok()) return entry_.value;
    refreshed_.Wait(lock);
    if (Fresh()) return entry_.value;
  }
  refreshing_ = true;
  absl::Time at = absl::Now();
  lock.Unlock();
  absl::StatusOr<std::shared_ptr<const Snapshot>> value = Read();
  lock.Lock();
  entry_.at = at;
  entry_.value = value;
  ++refreshes_;
  refreshing_ = false;
  refreshed_.SignalAll();
  return value;
}

absl::StatusOr<std::shared_ptr<const Snapshot>> SnapshotCache::Read() {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<Snapshot> s =
      ReadSnapshot(conn->get(), options_.throughput_minutes);
  if (!s.ok()) return s.status();
  return std::make_shared<const Snapshot>(std::move(*s));
}

}  // namespace qg::console
