#include "qg/client.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/enqueue_util.h"
#include "qg/internal/guarded.h"
#include "qg/internal/job_ops.h"
#include "qg/internal/json.h"
#include "qg/internal/lease.h"
#include "qg/internal/pg.h"
#include "qg/internal/pooler.h"
#include "qg/internal/queries.h"
#include "qg/internal/run_at.h"
#include "qg/internal/schema_state.h"
#include "qg/internal/sql.h"
#include "qg/internal/test_hooks.h"
#include "qg/internal/unique_key.h"
#include "qg/internal/utf8.h"

namespace qg {
namespace {

namespace queries = internal::queries;
using internal::CheckOpenTransaction;
using internal::InsertRow;
using internal::InsertUnique;
using internal::JobRow;
using internal::JobRowReader;
using internal::MissingUniqueSchema;
using internal::OneRow;
using internal::QueryCall;

// A transaction that belongs to the EnqueueInTx caller: the job may write
// through it but must not end it.
class BorrowedTx : public Tx {
 public:
  explicit BorrowedTx(Executor& exec) : exec_(exec) {}
  absl::StatusOr<Rows> Query(absl::string_view q,
                             const std::vector<SqlParam>& params) override {
    return exec_.Query(q, params);
  }
  absl::Status Commit() override {
    return absl::FailedPreconditionError(
        "the transaction belongs to the EnqueueInTx caller");
  }
  absl::Status Rollback() override { return Commit(); }

 private:
  Executor& exec_;
};

absl::StatusOr<int64_t> ReturnedId(const Rows& rows) {
  int64_t id = 0;
  if (rows.rows.size() != 1 || !rows.rows[0][0] ||
      !absl::SimpleAtoi(*rows.rows[0][0], &id)) {
    return absl::InternalError("INSERT returned no job_id");
  }
  return id;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> UniqueKey(const NewJob& job,
                                                     absl::Time now) {
  if (!job.unique.has_value()) return std::nullopt;
  const UniqueOpts& u = *job.unique;
  if (!u.key.empty()) {
    if (u.by_queue || u.by_args || u.by_period != absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          "UniqueOpts::key is explicit: leave by_queue, by_args and "
          "by_period at their defaults");
    }
    if (u.key.size() > internal::kMaxUniqueKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("UniqueOpts::key has ", u.key.size(), " bytes; at most ",
                       internal::kMaxUniqueKeyBytes));
    }
    if (absl::Status s = internal::CheckNoNul("unique key", u.key); !s.ok()) {
      return s;
    }
    if (size_t bad = internal::FirstInvalidUtf8(u.key);
        bad != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("unique key is not valid UTF-8 (byte ", bad, ")"));
    }
    return u.key;
  }
  internal::UniqueKeyParts parts;
  parts.type = job.type;
  parts.by_queue = u.by_queue;
  parts.queue = job.queue;
  parts.by_args = u.by_args;
  parts.args = job.args.empty() ? std::string("[]") : job.args;
  parts.by_period = u.by_period;
  parts.at = job.run_at.value_or(now);
  absl::StatusOr<std::string> key = internal::DeriveUniqueKey(parts);
  if (!key.ok()) return key.status();
  return *key;
}

// A new connection of the client's pool: its statements prepared, and the
// server not to end it for idling (idle_session_timeout, PostgreSQL 14+):
// a qg-compatible worker's connection holds its job's advisory lock while
// the handler runs, however long it says nothing.
absl::Status PrepareStatements(PGconn* conn) {
  if (absl::Status s =
          internal::sql::PrepareAll(conn, internal::sql::ClientStatements());
      !s.ok()) {
    return s;
  }
  return ExecSimple(conn,
                    "SELECT CASE WHEN current_setting('idle_session_timeout', "
                    "true) IS NOT NULL THEN set_config('idle_session_timeout', "
                    "'0', false) END")
      .status();
}

absl::StatusOr<InsertRow> ValidateNewJob(const NewJob& job) {
  return ValidateNewJob(job, absl::Now());
}

absl::StatusOr<InsertRow> ValidateNewJob(const NewJob& job, absl::Time now) {
  if (job.type.empty()) return ErrMissingType();
  if (job.priority < std::numeric_limits<int16_t>::min() ||
      job.priority > std::numeric_limits<int16_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "priority ", job.priority, " is outside smallint (-32768..32767)"));
  }
  for (auto [what, value] :
       {std::pair{"job type", &job.type}, std::pair{"queue name", &job.queue},
        std::pair{"job args", &job.args}}) {
    if (absl::Status s = internal::CheckNoNul(what, *value); !s.ok()) return s;
  }
  // What the server would refuse: text that is not UTF-8, and a key too
  // long for the indexes of que_jobs, qg_job_counts and qg_queues.
  for (auto [what, value, max] :
       {std::tuple{"job type", &job.type, kMaxJobTypeBytes},
        std::tuple{"queue name", &job.queue, kMaxQueueBytes}}) {
    if (value->size() > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has ", value->size(), " bytes; at most ", max));
    }
    if (size_t bad = internal::FirstInvalidUtf8(*value);
        bad != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is not valid UTF-8 (byte ", bad, ")"));
    }
  }
  if (!job.args.empty()) {
    if (absl::Status s = internal::ValidateJson(job.args); !s.ok()) return s;
  }
  if (job.run_at.has_value()) {
    if (absl::Status s = internal::CheckRunAt(*job.run_at); !s.ok()) return s;
  }
  InsertRow row;
  row.queue = job.queue;
  row.priority = static_cast<int16_t>(job.priority);
  row.run_at = job.run_at;
  row.type = job.type;
  row.args = job.args.empty() ? std::string("[]") : job.args;
  if (job.unique.has_value()) {
    absl::StatusOr<std::optional<std::string>> key = UniqueKey(job, now);
    if (!key.ok()) return key.status();
    row.unique_key = std::move(*key);
  }
  if (job.limit_key.has_value()) {
    const std::string& k = *job.limit_key;
    if (k.empty() || k.size() > internal::kMaxUniqueKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("NewJob::limit_key has ", k.size(), " bytes; from 1 to ",
                       internal::kMaxUniqueKeyBytes));
    }
    if (absl::Status s = internal::CheckNoNul("limit key", k); !s.ok()) {
      return s;
    }
    if (size_t bad = internal::FirstInvalidUtf8(k);
        bad != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("limit key is not valid UTF-8 (byte ", bad, ")"));
    }
    row.limit_key = k;
  }
  if (job.batch_id.has_value()) {
    if (*job.batch_id <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "NewJob::batch_id is ", *job.batch_id, ", which is no batch id"));
    }
    row.batch_id = job.batch_id;
  }
  if (!job.depends_on.empty()) {
    if (job.unique.has_value() || job.run_at.has_value()) {
      return absl::InvalidArgumentError(
          "NewJob::depends_on cannot be combined with unique or run_at: a "
          "child runs when its last parent completes");
    }
    for (int64_t parent : job.depends_on) {
      if (parent <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "NewJob::depends_on holds ", parent, ", which is no job id"));
      }
    }
    row.depends_on = job.depends_on;
    row.cancel_on_parent_failure =
        job.on_parent_failure == NewJob::OnParentFailure::kCancel;
  }
  return row;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.max_conns < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ClientOptions::max_conns must be at least 1, not ",
                     options.max_conns));
  }
  bool history = false;
  bool transaction_pooled = false;
  {
    absl::StatusOr<PgConnPtr> conn = qg::Connect(options.conninfo);
    if (!conn.ok()) return conn.status();
    absl::StatusOr<internal::QueSchemaState> schema =
        internal::InspectQueSchema(conn->get());
    if (!schema.ok()) return schema.status();
    if (absl::Status s = internal::QueSchemaStatus(*schema); !s.ok()) return s;
    history = schema->has_history && schema->may_record_history;
    if (options.pooling == ConnectionPooling::kDetect) {
      absl::StatusOr<bool> pooled =
          internal::BehindTransactionPooler(conn->get(), options.conninfo);
      if (!pooled.ok()) return pooled.status();
      transaction_pooled = *pooled;
    } else {
      transaction_pooled = options.pooling == ConnectionPooling::kTransaction;
    }
  }
  if (transaction_pooled && options.synchronous) {
    return absl::FailedPreconditionError(
        "ClientOptions::synchronous runs each job under a session advisory "
        "lock, which a transaction-mode pooler (PgBouncer pool_mode="
        "transaction) does not keep: give the client a direct conninfo or a "
        "session-mode pool");
  }
  // The hooks own the guard around the user's logger: jobs, which may
  // outlive the client, keep both alive.
  struct HooksAndLogger {
    explicit HooksAndLogger(Logger* user) : logger(user) {}
    JobHooks hooks;
    internal::GuardedLogger logger;  // a throwing Log() must not kill a thread
  };
  auto owner = std::make_shared<HooksAndLogger>(
      options.logger != nullptr ? options.logger : &DefaultLogger());
  std::shared_ptr<JobHooks> hooks(owner, &owner->hooks);
  hooks->delete_func = options.delete_func;
  hooks->error_func = options.error_func;
  hooks->backoff = options.backoff;
  hooks->max_attempts = options.max_attempts;
  hooks->history = history;
  hooks->logger = options.logger != nullptr
                      ? static_cast<Logger*>(&owner->logger)
                      : &DefaultLogger();
  // Behind a transaction pooler a statement prepared on one server session
  // is unknown to the next: send them unprepared there.
  auto pool = internal::ConnPool::Create(
      options.conninfo, options.max_conns,
      transaction_pooled ? internal::ConnPool::OnConnect() : PrepareStatements);
  return std::unique_ptr<Client>(new Client(std::move(options), std::move(pool),
                                            std::move(hooks),
                                            transaction_pooled));
}

absl::Status Client::RequireSession(absl::string_view what) const {
  if (!transaction_pooled_) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      what,
      " needs a database session of its own (session advisory locks, "
      "LISTEN), but this client reaches the server through a "
      "transaction-mode pooler (PgBouncer pool_mode=transaction or "
      "statement), which lends a session per transaction: jobs could run "
      "twice (or the client could not tell: every session of its pooler "
      "was busy, or a second connection was refused). Give workers a "
      "direct conninfo or a session-mode pool with sessions to spare, or "
      "say what is there with ClientOptions::pooling; enqueueing and admin "
      "work through a transaction pooler."));
}

absl::StatusOr<PgResult> Client::RunOnPooled(PGconn* conn,
                                             const internal::Call& call) const {
  return transaction_pooled_ ? internal::Run(conn, call)
                             : internal::RunPrepared(conn, call);
}

Client::Client(ClientOptions options, std::shared_ptr<internal::ConnPool> pool,
               std::shared_ptr<const JobHooks> hooks, bool transaction_pooled)
    : options_(std::move(options)),
      pool_(std::move(pool)),
      hooks_(std::move(hooks)),
      logger_(hooks_->logger),
      clock_(options_.clock != nullptr ? options_.clock : &RealClock()),
      counter_(std::make_shared<internal::JobCounter>(pool_, *clock_, logger_)),
      limit_scope_(static_cast<int64_t>(
                       (reinterpret_cast<uintptr_t>(this) ^
                        static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) &
                       0x7fffffffffffffffULL) |
                   1),
      transaction_pooled_(transaction_pooled) {}

Client::~Client() {
  if (int users = users_.load(); users > 0) {
    std::string message = absl::StrCat(
        "qg: a Client was destroyed while ", users,
        " worker pool(s) or worker(s) still use it: shut them down first");
    logger_->Log(LogLevel::kError, message);
#ifndef NDEBUG
    std::fprintf(stderr, "%s\n", message.c_str());
    std::abort();
#endif
  }
  Close();
}

void Client::Close() {
  counter_->Stop();  // writes the last counts while connections remain
  pool_->Close();
}

bool Client::closed() const { return pool_->closed(); }

absl::Status Client::CheckUniqueSchema(Executor& exec) {
  if (unique_schema_ok_.load(std::memory_order_relaxed)) {
    return absl::OkStatus();
  }
  absl::StatusOr<Rows> rows = QueryCall(exec, queries::HasUniqueKey());
  if (!rows.ok()) return rows.status();
  if (rows->rows.size() != 1 || rows->rows[0][0] != "t") {
    return MissingUniqueSchema();
  }
  unique_schema_ok_.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Client::Enqueue(const NewJob& job) {
  absl::StatusOr<EnqueueResult> r = EnqueueDetailed(job);
  if (!r.ok()) return r.status();
  return r->id;
}

absl::StatusOr<EnqueueResult> Client::EnqueueDetailed(const NewJob& job) {
  absl::StatusOr<InsertRow> row = ValidateNewJob(job, clock_->Now());
  if (!row.ok()) return row.status();
  return EnqueueRow(*row, nullptr);
}

absl::StatusOr<int64_t> Client::EnqueueInTx(const NewJob& job, Executor& tx) {
  absl::StatusOr<EnqueueResult> r = EnqueueInTxDetailed(job, tx);
  if (!r.ok()) return r.status();
  return r->id;
}

absl::StatusOr<int64_t> Client::EnqueueInTx(const NewJob& job,
                                            PGconn* tx_conn) {
  absl::StatusOr<EnqueueResult> r = EnqueueInTxDetailed(job, tx_conn);
  if (!r.ok()) return r.status();
  return r->id;
}

absl::StatusOr<EnqueueResult> Client::EnqueueInTxDetailed(const NewJob& job,
                                                          Executor& tx) {
  if (absl::Status s = CheckOpenTransaction(tx, "EnqueueInTx"); !s.ok()) {
    return s;
  }
  absl::StatusOr<InsertRow> row = ValidateNewJob(job, clock_->Now());
  if (!row.ok()) return row.status();
  return EnqueueRow(*row, &tx);
}

absl::StatusOr<EnqueueResult> Client::EnqueueInTxDetailed(const NewJob& job,
                                                          PGconn* tx_conn) {
  if (tx_conn == nullptr) {
    return absl::InvalidArgumentError("EnqueueInTx: null connection");
  }
  PgExecutor exec(tx_conn);
  return EnqueueInTxDetailed(job, exec);
}

absl::StatusOr<EnqueueResult> Client::EnqueueRow(const InsertRow& row,
                                                 Executor* tx) {
  if (!row.depends_on.empty()) {
    if (options_.synchronous) {
      return absl::InvalidArgumentError(
          "NewJob::depends_on: a synchronous client runs each job as it is "
          "enqueued, so it cannot wait for parents");
    }
    absl::StatusOr<int64_t> id;
    if (tx != nullptr) {
      id = internal::InsertChild(*tx, row);
    } else {
      absl::StatusOr<internal::PooledConn> conn =
          pool_->Acquire(options_.acquire_timeout);
      if (!conn.ok()) return conn.status();
      PgExecutor exec(conn->get());
      id = internal::InsertChild(exec, row);
    }
    if (!id.ok()) return id.status();
    return EnqueueResult{*id, false};
  }
  if (options_.synchronous) return EnqueueSync(row, tx);
  if (tx != nullptr) {
    if (!row.NeedsAdditions()) {
      absl::StatusOr<Rows> rows = QueryCall(*tx, queries::InsertJob(row));
      if (!rows.ok()) return rows.status();
      absl::StatusOr<int64_t> id = ReturnedId(*rows);
      if (!id.ok()) return id.status();
      return EnqueueResult{*id, false};
    }
    if (absl::Status s = CheckUniqueSchema(*tx); !s.ok()) return s;
    absl::StatusOr<std::pair<JobRow, bool>> stored = InsertUnique(*tx, row);
    if (!stored.ok()) return stored.status();
    return EnqueueResult{stored->first.key.id, stored->second};
  }
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  if (!row.NeedsAdditions()) {
    absl::StatusOr<PgResult> r =
        RunOnPooled(conn->get(), queries::InsertJob(row));
    if (!r.ok()) return r.status();
    int64_t id = 0;
    if (r->rows() != 1 || !absl::SimpleAtoi(r->Get(0, 0), &id)) {
      return absl::InternalError("INSERT returned no job_id");
    }
    return EnqueueResult{id, false};
  }
  PgExecutor exec(conn->get());
  if (absl::Status s = CheckUniqueSchema(exec); !s.ok()) return s;
  absl::StatusOr<std::pair<JobRow, bool>> stored = InsertUnique(exec, row);
  if (!stored.ok()) return stored.status();
  return EnqueueResult{stored->first.key.id, stored->second};
}

absl::StatusOr<EnqueueResult> Client::EnqueueSync(const InsertRow& insert,
                                                  Executor* tx) {
  // Stores the job and returns its row; a unique job's duplicate returns
  // the holder's row, flagged, and is not run.
  auto store = [&](Executor& exec) -> absl::StatusOr<std::pair<JobRow, bool>> {
    if (insert.NeedsAdditions()) {
      if (absl::Status s = CheckUniqueSchema(exec); !s.ok()) return s;
      return InsertUnique(exec, insert);
    }
    absl::StatusOr<Rows> rows =
        QueryCall(exec, queries::InsertJobReturningRow(insert));
    if (!rows.ok()) return rows.status();
    absl::StatusOr<JobRow> row = OneRow(*rows);
    if (!row.ok()) return row.status();
    return std::make_pair(std::move(*row), false);
  };
  std::unique_ptr<Job> job;
  std::unique_ptr<BorrowedTx> borrowed;
  if (tx != nullptr) {
    // Inside the caller's transaction: the row is invisible to other
    // sessions until commit, so no lock is needed; the handler writes and the
    // job's deletion go through the caller's transaction.
    absl::StatusOr<std::pair<JobRow, bool>> stored = store(*tx);
    if (!stored.ok()) return stored.status();
    if (stored->second) return EnqueueResult{stored->first.key.id, true};
    job = std::make_unique<Job>(std::move(stored->first),
                                std::make_unique<internal::NoLease>(), hooks_);
    borrowed = std::make_unique<BorrowedTx>(*tx);
    job->UseTransaction(borrowed.get());
  } else {
    absl::StatusOr<internal::PooledConn> conn =
        pool_->Acquire(options_.acquire_timeout);
    if (!conn.ok()) return conn.status();
    PgExecutor exec(conn->get());
    absl::StatusOr<std::pair<JobRow, bool>> stored = store(exec);
    if (!stored.ok()) return stored.status();
    if (stored->second) return EnqueueResult{stored->first.key.id, true};
    JobRow& row = stored->first;
    int64_t id = row.key.id;
    absl::StatusOr<PgResult> locked =
        internal::RunPrepared(conn->get(), queries::TryLockJob(id));
    if (!locked.ok()) return locked.status();
    if (locked->Get(0, 0) != "t") {
      return EnqueueResult{id, false};  // a worker has it already
    }
    auto lease = std::make_unique<internal::SessionLease>(
        std::move(*conn), true, logger_, counter_);
    PGconn* c = lease->Conn();
    // A worker may have run and deleted it between the insert and our lock.
    absl::StatusOr<PgResult> check =
        internal::RunPrepared(c, queries::CheckJob(row.key));
    job = std::make_unique<Job>(std::move(row), std::move(lease), hooks_);
    if (!check.ok()) return check.status();  // ~Job releases the lock
    if (check->rows() == 0) return EnqueueResult{id, false};
  }
  int64_t id = job->id();
  absl::Status s = internal::Guard("the synchronous runner",
                                   [&] { return options_.synchronous(*job); });
  job->Done();
  if (!s.ok()) return s;
  return EnqueueResult{id, false};
}

absl::StatusOr<bool> Client::QueueLimited(PGconn* conn,
                                          absl::string_view queue) {
  const absl::Time now = clock_->Now();
  {
    internal::MutexLock lock(limits_mu_);
    auto it = limited_.find(queue);
    if (it != limited_.end() && now - it->second.second < absl::Seconds(1)) {
      return it->second.first;
    }
  }
  absl::StatusOr<PgResult> r =
      internal::Run(conn, queries::QueueLimited(queue));
  // Only a missing table means "no limits" (a database `qg migrate` has
  // not reached); any other failure (a missing grant, a lost connection)
  // takes no job, rather than one no limit admitted.
  if (!r.ok() && qg::SqlState(r.status()) != "42P01") return r.status();
  bool limited = r.ok() && r->rows() == 1 && r->Get(0, 0) == "t";
  internal::MutexLock lock(limits_mu_);
  limited_[std::string(queue)] = {limited, now};
  return limited;
}

absl::StatusOr<std::unique_ptr<Job>> Client::LockLimitedJob(
    internal::PooledConn conn, absl::string_view queue) {
  // From the head, one job, in Que's order; the function re-checks the row
  // under lock and admits it under the queue's limits.
  absl::StatusOr<PgResult> r = internal::Run(
      conn.get(), queries::LockJobs(queue, 1, {}, 1000, std::nullopt,
                                    std::nullopt, limit_scope_));
  if (!r.ok()) return r.status();
  int locked_col = PQfnumber(r->get(), "locked");
  int locks_col = PQfnumber(r->get(), "limit_locks");
  if (locked_col < 0 || locks_col < 0) {
    conn.Discard();
    return absl::InternalError("qg_lock_jobs: unexpected columns");
  }
  for (int i = 0; i < r->rows(); ++i) {
    if (r->Get(i, locked_col) != "t") continue;
    absl::StatusOr<JobRowReader> reader = JobRowReader::For(*r);
    absl::StatusOr<JobRow> row = reader.ok()
                                     ? reader->Read(*r, i)
                                     : absl::StatusOr<JobRow>(reader.status());
    std::vector<int64_t> locks;
    const bool locks_ok = r->IsNull(i, locks_col) ||
                          internal::ParseIdArray(r->Get(i, locks_col), &locks);
    if (!row.ok() || !locks_ok) {
      conn.Discard();  // releases every lock the session took
      return row.ok() ? absl::InternalError(
                            "qg_lock_jobs: unreadable "
                            "limit_locks")
                      : row.status();
    }
    // As qg_check_job does on the unlimited path: the session holds the
    // job's locks while the handler's Tx() runs on it.
    if (absl::Status s =
            ExecSimple(conn.get(),
                       "SELECT set_config("
                       "'idle_in_transaction_session_timeout', '0', false)")
                .status();
        !s.ok()) {
      conn.Discard();
      return s;
    }
    return std::make_unique<Job>(
        std::move(*row),
        std::make_unique<internal::SessionLease>(std::move(conn), true, logger_,
                                                 counter_, std::move(locks)),
        hooks_);
  }
  return nullptr;  // none ready, or every ready one held back by a limit
}

absl::StatusOr<std::unique_ptr<Job>> Client::LockJob(absl::string_view queue) {
  if (absl::Status s = RequireSession("Client::LockJob"); !s.ok()) return s;
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  if (absl::Status s =
          internal::RequireWritableServer(conn->get(), "Client::LockJob");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<bool> limited = QueueLimited(conn->get(), queue);
  if (!limited.ok()) return limited.status();
  if (*limited) return LockLimitedJob(std::move(*conn), queue);
  constexpr int kMaxAttempts = 10;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    absl::StatusOr<PgResult> r =
        internal::RunPrepared(conn->get(), queries::LockJob(queue));
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return nullptr;  // no job ready
    absl::StatusOr<JobRowReader> reader = JobRowReader::For(*r);
    absl::StatusOr<JobRow> row = reader.ok()
                                     ? reader->Read(*r, 0)
                                     : absl::StatusOr<JobRow>(reader.status());
    if (!row.ok()) {
      // Locked but unreadable: never keep the lock (nobody could run the
      // job, Ruby and Go workers included). Closing the session releases
      // every lock it holds.
      conn->Discard();
      return row.status();
    }
    int64_t id = row->key.id;
    if (const auto& hook = internal::AfterLockHookForTesting(); hook) {
      hook(id);
    }
    // Another worker may have finished the job between our snapshot and our
    // lock: check that the row is still there.
    absl::StatusOr<PgResult> check =
        internal::RunPrepared(conn->get(), queries::CheckJob(row->key));
    if (check.ok() && check->rows() > 0) {
      return std::make_unique<Job>(
          std::move(*row),
          std::make_unique<internal::SessionLease>(std::move(*conn), true,
                                                   logger_, counter_),
          hooks_);
    }
    absl::StatusOr<PgResult> unlocked =
        internal::RunPrepared(conn->get(), queries::UnlockJob(id));
    if (!check.ok() || !unlocked.ok()) {
      // The lock may still be held: close the session rather than return a
      // connection with a stray lock to the pool.
      conn->Discard();
      return !check.ok() ? check.status() : unlocked.status();
    }
  }
  return ErrAgain();
}

absl::StatusOr<std::vector<JobInfo>> Client::DeadJobs(int limit) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<PgResult> r =
      internal::Run(conn->get(), queries::DeadJobs(limit));
  if (!r.ok()) return r.status();
  absl::StatusOr<JobRowReader> reader = JobRowReader::For(*r);
  if (!reader.ok()) return reader.status();
  std::vector<JobInfo> out;
  for (int i = 0; i < r->rows(); ++i) {
    absl::StatusOr<JobRow> row = reader->Read(*r, i);
    if (!row.ok()) return row.status();
    JobInfo info;
    info.id = row->key.id;
    info.queue = row->key.queue;
    info.type = row->type;
    info.priority = row->key.priority;
    info.run_at = row->key.run_at;
    info.error_count = row->error_count;
    info.last_error = row->last_error.value_or("");
    out.push_back(std::move(info));
  }
  return out;
}

absl::Status Client::RetryJob(int64_t id) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  // Under the job's lock, as `qg::Admin::RetryJob` does (one shared
  // implementation): rewriting a held job's run_at would make its worker's
  // delete miss, so it would run twice.
  return internal::RetryJobUnderLock(*conn, id);
}

absl::StatusOr<CancelOutcome> Client::CancelJob(int64_t id,
                                                absl::Duration wait) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  return internal::CancelJob(*conn, id, wait);
}

absl::Status Client::PauseQueue(absl::string_view queue) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  return internal::SetQueuePaused(*conn, queue, true);
}

absl::Status Client::ResumeQueue(absl::string_view queue) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  return internal::SetQueuePaused(*conn, queue, false);
}

absl::StatusOr<std::vector<std::string>> Client::PausedQueues() {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  return internal::PausedQueues(*conn);
}

absl::StatusOr<std::vector<JobStats>> Client::Stats() {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  return QueryJobStats(exec);
}

absl::StatusOr<JobLookup> Client::GetJob(int64_t id) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  return internal::LookUpJob(conn->get(), id, 64 * 1024);
}

namespace {

// Runs `call` through `tx` when given, else on a connection of `pool`; a
// missing batches schema is FailedPrecondition saying to migrate.
absl::StatusOr<Rows> QueryBatchCall(internal::ConnPool& pool,
                                    absl::Duration acquire_timeout,
                                    Executor* tx, const internal::Call& call) {
  absl::StatusOr<Rows> rows;
  if (tx != nullptr) {
    rows = internal::QueryCall(*tx, call);
  } else {
    absl::StatusOr<internal::PooledConn> conn = pool.Acquire(acquire_timeout);
    if (!conn.ok()) return conn.status();
    PgExecutor exec(conn->get());
    rows = internal::QueryCall(exec, call);
  }
  if (!rows.ok()) {
    return internal::MissingAdditionsError(rows.status(), "batches need");
  }
  return rows;
}

}  // namespace

absl::StatusOr<int64_t> Client::CreateBatch(const BatchOptions& options,
                                            Executor* tx) {
  if (absl::Status s =
          internal::CheckNoNul("batch description", options.description);
      !s.ok()) {
    return s;
  }
  if (size_t bad = internal::FirstInvalidUtf8(options.description);
      bad != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch description is not valid UTF-8 (byte ", bad, ")"));
  }
  std::optional<InsertRow> callbacks[2];
  const std::optional<NewJob>* given[2] = {&options.on_success,
                                           &options.on_finish};
  const char* names[2] = {"on_success", "on_finish"};
  for (int i = 0; i < 2; ++i) {
    if (!given[i]->has_value()) continue;
    const NewJob& cb = **given[i];
    if (cb.unique || cb.limit_key || cb.run_at || cb.batch_id ||
        !cb.depends_on.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "BatchOptions::", names[i],
          ": a callback has a type, args, queue and priority only"));
    }
    absl::StatusOr<InsertRow> row = ValidateNewJob(cb, clock_->Now());
    if (!row.ok()) {
      return internal::Prefixed(row.status(),
                                absl::StrCat("BatchOptions::", names[i], ": "));
    }
    callbacks[i] = std::move(*row);
  }
  absl::StatusOr<Rows> rows = QueryBatchCall(
      *pool_, options_.acquire_timeout, tx,
      queries::BatchCreate(options.description, callbacks[0], callbacks[1]));
  if (!rows.ok()) return rows.status();
  int64_t id = 0;
  if (rows->rows.size() != 1 || !rows->rows[0][0] ||
      !absl::SimpleAtoi(*rows->rows[0][0], &id)) {
    return absl::InternalError("qg_batch_create returned no batch_id");
  }
  return id;
}

absl::Status Client::SealBatch(int64_t id, Executor* tx) {
  return QueryBatchCall(*pool_, options_.acquire_timeout, tx,
                        queries::BatchSeal(id))
      .status();
}

absl::StatusOr<BatchInfo> Client::GetBatch(int64_t id) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  return internal::GetBatch(conn->get(), id);
}

absl::StatusOr<std::vector<ParentJob>> Client::GetParents(int64_t id) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<PgResult> r =
      internal::Run(conn->get(), queries::JobParents(id));
  if (!r.ok()) {
    const absl::optional<absl::Cord> state =
        r.status().GetPayload(kSqlStatePayload);
    if (state.has_value() && *state == "42P01") {  // no qg_job_deps
      return std::vector<ParentJob>();
    }
    return r.status();
  }
  std::vector<ParentJob> parents;
  for (int i = 0; i < r->rows(); ++i) {
    ParentJob p;
    if (!absl::SimpleAtoi(r->Get(i, 0), &p.id)) {
      return absl::InternalError("qg_job_parents returned no parent_id");
    }
    if (!r->IsNull(i, 1)) {
      p.state = r->Get(i, 1) == "completed" ? ParentJob::State::kCompleted
                                            : ParentJob::State::kFailed;
    }
    if (!r->IsNull(i, 3)) p.output = std::string(r->Get(i, 3));
    parents.push_back(std::move(p));
  }
  return parents;
}

}  // namespace qg
