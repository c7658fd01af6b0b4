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
#include "qg/internal/guarded.h"
#include "qg/internal/job_ops.h"
#include "qg/internal/json.h"
#include "qg/internal/lease.h"
#include "qg/internal/pg.h"
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
using internal::InsertRow;
using internal::JobRow;
using internal::JobRowReader;

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

absl::StatusOr<Rows> QueryCall(Executor& exec, const internal::Call& call) {
  return exec.Query(call.statement->text, call.params);
}

// Reads the one que_jobs row `rows` holds.
absl::StatusOr<JobRow> OneRow(const Rows& rows) {
  if (rows.rows.size() != 1) return absl::InternalError("expected one row");
  absl::StatusOr<JobRowReader> reader = JobRowReader::For(rows.columns);
  if (!reader.ok()) return reader.status();
  return reader->Read([&](int c) -> std::optional<absl::string_view> {
    const auto& field = rows.rows[0][c];
    if (!field.has_value()) return std::nullopt;
    return absl::string_view(*field);
  });
}

// How often a unique insert is tried when it neither inserted nor saw the
// key's holder (the holder committed after the statement's snapshot, or
// finished in between). Each try takes a new snapshot in READ COMMITTED.
constexpr int kUniqueAttempts = 10;

absl::Status MissingUniqueSchema() {
  return absl::FailedPreconditionError(
      "unique jobs need qg-cpp's schema additions (the qg_unique_key column "
      "of que_jobs and its unique index), which this database lacks: run "
      "`qg migrate` (jobs without NewJob::unique work without them)");
}

// A failed unique statement: undefined column (42703) or no unique index
// to infer (42P10) mean that the additions are missing.
absl::Status UniqueStatementError(const absl::Status& status) {
  std::string state = qg::SqlState(status);
  if (state == "42703" || state == "42P10") return MissingUniqueSchema();
  return status;
}

int ColumnIndex(const Rows& rows, absl::string_view name) {
  for (size_t i = 0; i < rows.columns.size(); ++i) {
    if (rows.columns[i] == name) return static_cast<int>(i);
  }
  return -1;
}

// Inserts the unique job `row` through `exec`, or finds the stored job that
// holds its key. Returns the stored row and whether it was a duplicate.
absl::StatusOr<std::pair<JobRow, bool>> InsertUnique(Executor& exec,
                                                     const InsertRow& row) {
  for (int attempt = 0; attempt < kUniqueAttempts; ++attempt) {
    absl::StatusOr<Rows> rows = QueryCall(exec, queries::InsertUniqueJob(row));
    if (!rows.ok()) return UniqueStatementError(rows.status());
    if (rows->rows.empty()) continue;  // look again with a new snapshot
    int dup = ColumnIndex(*rows, "qg_duplicate");
    if (dup < 0) return absl::InternalError("unique insert without flag");
    absl::StatusOr<JobRow> job = OneRow(*rows);
    if (!job.ok()) return job.status();
    return std::make_pair(std::move(*job), rows->rows[0][dup] == "t");
  }
  return absl::AbortedError(absl::StrCat(
      "enqueue of unique job ", *row.unique_key, ": ", kUniqueAttempts,
      " tries neither inserted it nor saw the job holding its key (in a "
      "REPEATABLE READ or SERIALIZABLE transaction, a job committed after "
      "its snapshot; otherwise jobs with this key keep finishing): retry "
      "the transaction"));
}

// `status` with `prefix` before its message; code and payloads (such as
// `IsErrMissingType()`'s) kept.
absl::Status Prefixed(const absl::Status& status, absl::string_view prefix) {
  absl::Status out(status.code(), absl::StrCat(prefix, status.message()));
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

// OK when `conn`, the caller's connection, is inside an open transaction
// (or busy or broken, which the next statement reports). Outside BEGIN the
// caller's jobs would commit on their own, whatever the caller does next;
// in a failed transaction the server refuses every statement.
absl::Status CheckOpenTransaction(PGconn* conn, absl::string_view call) {
  switch (PQtransactionStatus(conn)) {
    case PQTRANS_IDLE:
      return absl::FailedPreconditionError(absl::StrCat(
          call,
          " needs an open transaction: the caller's connection is not inside "
          "BEGIN, so its jobs would commit on their own (BEGIN first, or "
          "enqueue without a transaction)"));
    case PQTRANS_INERROR:
      return absl::FailedPreconditionError(absl::StrCat(
          call, ": the caller's transaction has failed; roll it back"));
    default:
      return absl::OkStatus();
  }
}

// `CheckOpenTransaction()` on the connection of `exec` when it is one of
// qg's libpq executors; an Executor of another kind is trusted to be in a
// transaction.
absl::Status CheckOpenTransaction(Executor& exec, absl::string_view call) {
  if (auto* e = dynamic_cast<PgExecutor*>(&exec); e != nullptr) {
    return CheckOpenTransaction(e->conn(), call);
  }
  if (auto* t = dynamic_cast<PgTx*>(&exec); t != nullptr) {
    return CheckOpenTransaction(t->conn(), call);
  }
  return absl::OkStatus();
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

absl::Status PrepareStatements(PGconn* conn) {
  return internal::sql::PrepareAll(conn, internal::sql::ClientStatements());
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
  return row;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.max_conns < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ClientOptions::max_conns must be at least 1, not ",
                     options.max_conns));
  }
  {
    absl::StatusOr<PgConnPtr> conn = qg::Connect(options.conninfo);
    if (!conn.ok()) return conn.status();
    absl::StatusOr<internal::QueSchemaState> schema =
        internal::InspectQueSchema(conn->get());
    if (!schema.ok()) return schema.status();
    if (absl::Status s = internal::QueSchemaStatus(*schema); !s.ok()) return s;
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
  hooks->logger = options.logger != nullptr
                      ? static_cast<Logger*>(&owner->logger)
                      : &DefaultLogger();
  auto pool = internal::ConnPool::Create(options.conninfo, options.max_conns,
                                         PrepareStatements);
  return std::unique_ptr<Client>(
      new Client(std::move(options), std::move(pool), std::move(hooks)));
}

Client::Client(ClientOptions options, std::shared_ptr<internal::ConnPool> pool,
               std::shared_ptr<const JobHooks> hooks)
    : options_(std::move(options)),
      pool_(std::move(pool)),
      hooks_(std::move(hooks)),
      logger_(hooks_->logger),
      clock_(options_.clock != nullptr ? options_.clock : &RealClock()),
      counter_(
          std::make_shared<internal::JobCounter>(pool_, *clock_, logger_)) {}

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
  if (options_.synchronous) return EnqueueSync(row, tx);
  if (tx != nullptr) {
    if (!row.unique_key) {
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
  if (!row.unique_key) {
    absl::StatusOr<PgResult> r =
        internal::RunPrepared(conn->get(), queries::InsertJob(row));
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
    if (insert.unique_key) {
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

absl::StatusOr<std::unique_ptr<Job>> Client::LockJob(absl::string_view queue) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
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

absl::StatusOr<std::vector<int64_t>> Client::EnqueueMany(
    const std::vector<NewJob>& jobs, Executor* tx) {
  absl::StatusOr<std::vector<EnqueueResult>> results =
      EnqueueManyDetailed(jobs, tx);
  if (!results.ok()) return results.status();
  std::vector<int64_t> ids;
  ids.reserve(results->size());
  for (const EnqueueResult& r : *results) ids.push_back(r.id);
  return ids;
}

absl::StatusOr<std::vector<EnqueueResult>> Client::EnqueueManyDetailed(
    const std::vector<NewJob>& jobs, Executor* tx) {
  constexpr size_t kChunk = 1000;
  if (tx != nullptr) {
    if (absl::Status s = CheckOpenTransaction(*tx, "EnqueueMany"); !s.ok()) {
      return s;
    }
  }
  const absl::Time now = clock_->Now();
  std::vector<InsertRow> rows;
  rows.reserve(jobs.size());
  bool any_unique = false;
  for (size_t i = 0; i < jobs.size(); ++i) {
    absl::StatusOr<InsertRow> row = ValidateNewJob(jobs[i], now);
    if (!row.ok()) {
      return Prefixed(row.status(),
                      absl::StrCat("job #", i + 1, " of ", jobs.size(),
                                   " (jobs[", i, "]): "));
    }
    any_unique = any_unique || row->unique_key.has_value();
    rows.push_back(std::move(*row));
  }
  std::vector<EnqueueResult> results;
  results.reserve(jobs.size());
  auto insert_plain = [&](Executor& exec,
                          absl::Span<const InsertRow> chunk) -> absl::Status {
    absl::StatusOr<Rows> result = QueryCall(exec, queries::InsertMany(chunk));
    if (!result.ok()) return result.status();
    for (const auto& row : result->rows) {
      int64_t id = 0;
      if (!row[0] || !absl::SimpleAtoi(*row[0], &id)) {
        return absl::InternalError("INSERT returned no job_id");
      }
      results.push_back({id, false});
    }
    return absl::OkStatus();
  };
  auto insert_unique = [&](Executor& exec, size_t from,
                           absl::Span<const InsertRow> chunk) -> absl::Status {
    absl::StatusOr<Rows> result =
        QueryCall(exec, queries::InsertManyUnique(chunk));
    if (!result.ok()) return UniqueStatementError(result.status());
    if (result->rows.size() != chunk.size()) {
      return absl::InternalError("unique batch insert lost rows");
    }
    std::vector<size_t> unresolved;
    for (size_t i = 0; i < chunk.size(); ++i) {
      const auto& row = result->rows[i];
      int64_t id = 0;
      if (!row[1]) {
        unresolved.push_back(i);  // the key's holder was not visible
      } else if (!absl::SimpleAtoi(*row[1], &id)) {
        return absl::InternalError("INSERT returned no job_id");
      }
      results.push_back({id, row[2] == "t"});
    }
    for (size_t i : unresolved) {
      absl::StatusOr<std::pair<JobRow, bool>> stored =
          InsertUnique(exec, chunk[i]);
      if (!stored.ok()) return stored.status();
      results[from + i] = {stored->first.key.id, stored->second};
    }
    return absl::OkStatus();
  };
  auto insert = [&](Executor& exec) -> absl::Status {
    if (any_unique) {
      if (absl::Status s = CheckUniqueSchema(exec); !s.ok()) return s;
    }
    for (size_t from = 0; from < rows.size(); from += kChunk) {
      absl::Span<const InsertRow> chunk = absl::MakeConstSpan(rows).subspan(
          from, std::min(rows.size() - from, kChunk));
      bool unique = std::any_of(
          chunk.begin(), chunk.end(),
          [](const InsertRow& r) { return r.unique_key.has_value(); });
      absl::Status s =
          unique ? insert_unique(exec, from, chunk) : insert_plain(exec, chunk);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  };
  if (tx != nullptr) {
    if (absl::Status s = insert(*tx); !s.ok()) return s;
    return results;
  }
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<std::unique_ptr<PgTx>> own = PgTx::Begin(conn->get());
  if (!own.ok()) return own.status();
  if (absl::Status s = insert(**own); !s.ok()) return s;
  if (absl::Status s = (*own)->Commit(); !s.ok()) return s;
  return results;
}

namespace {

absl::Status CopyError(PGconn* conn, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", PQerrorMessage(conn)));
}

// Streams `next` through COPY on `conn`, inside an open transaction.
absl::StatusOr<int64_t> CopyJobs(PGconn* conn, const Client::JobSource& next) {
  // Rows without run_at get the transaction's now(), which is what the
  // column default would give (COPY cannot ask for DEFAULT per row).
  absl::StatusOr<PgResult> now = internal::Run(conn, queries::TransactionNow());
  if (!now.ok()) return now.status();
  std::string tx_now(now->Get(0, 0));
  {
    PgResult start(PQexec(conn, internal::sql::kCopyJobs.text));
    if (PQresultStatus(start.get()) != PGRES_COPY_IN) {
      return qg::StatusFromResult(conn, start.get(),
                                  internal::sql::kCopyJobs.name);
    }
  }
  constexpr size_t kFlushAt = 64 * 1024;
  std::string buf;
  int64_t count = 0;
  absl::Status invalid;
  NewJob job;
  while (true) {
    job = NewJob();
    bool more = false;
    try {
      more = next(job);
    } catch (const std::exception& e) {
      invalid = absl::InternalError(absl::StrCat(
          "EnqueueStream: the job source threw making job #", count + 1, ": ",
          e.what(), "; the COPY was aborted: nothing is stored"));
    } catch (...) {
      invalid = absl::InternalError(absl::StrCat(
          "EnqueueStream: the job source threw an exception not derived from "
          "std::exception making job #",
          count + 1, "; the COPY was aborted: nothing is stored"));
    }
    if (!invalid.ok() || !more) break;
    if (job.unique.has_value()) {
      invalid = absl::InvalidArgumentError(absl::StrCat(
          "job #", count + 1,
          " of the stream is unique (NewJob::unique): COPY cannot skip "
          "duplicates, so EnqueueStream refuses unique jobs; enqueue them "
          "with EnqueueMany, which reports duplicates"));
      break;
    }
    absl::StatusOr<InsertRow> row = ValidateNewJob(job);
    if (!row.ok()) {
      invalid = Prefixed(row.status(),
                         absl::StrCat("job #", count + 1, " of the stream: "));
      break;
    }
    internal::AppendCopyField(row->queue, buf);
    buf.push_back('\t');
    absl::StrAppend(&buf, row->priority);
    buf.push_back('\t');
    buf += row->run_at ? qg::FormatTimestamp(*row->run_at) : tx_now;
    buf.push_back('\t');
    internal::AppendCopyField(row->type, buf);
    buf.push_back('\t');
    internal::AppendCopyField(row->args, buf);
    buf.push_back('\n');
    ++count;
    if (buf.size() >= kFlushAt) {
      if (PQputCopyData(conn, buf.data(), static_cast<int>(buf.size())) != 1) {
        return CopyError(conn, "COPY que_jobs");
      }
      buf.clear();
    }
  }
  if (!invalid.ok()) {
    PQputCopyEnd(conn, "aborted by qg: invalid job in stream");
    while (PGresult* r = PQgetResult(conn)) PQclear(r);
    return invalid;
  }
  if ((!buf.empty() &&
       PQputCopyData(conn, buf.data(), static_cast<int>(buf.size())) != 1) ||
      PQputCopyEnd(conn, nullptr) != 1) {
    return CopyError(conn, "COPY que_jobs");
  }
  PgResult end(PQgetResult(conn));
  absl::Status s = qg::StatusFromResult(conn, end.get(), "COPY que_jobs");
  while (PGresult* r = PQgetResult(conn)) PQclear(r);
  if (!s.ok()) return s;
  return count;
}

}  // namespace

absl::StatusOr<int64_t> Client::EnqueueStream(const JobSource& next,
                                              PGconn* tx_conn) {
  if (tx_conn != nullptr) {
    if (absl::Status s = CheckOpenTransaction(tx_conn, "EnqueueStream");
        !s.ok()) {
      return s;
    }
    return CopyJobs(tx_conn, next);
  }
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<std::unique_ptr<PgTx>> tx = PgTx::Begin(conn->get());
  if (!tx.ok()) return tx.status();
  absl::StatusOr<int64_t> n = CopyJobs(conn->get(), next);
  if (!n.ok()) return n.status();  // ~PgTx rolls back
  if (absl::Status s = (*tx)->Commit(); !s.ok()) return s;
  return n;
}

}  // namespace qg
