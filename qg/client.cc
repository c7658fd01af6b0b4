#include "qg/client.h"

#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/internal/json.h"
#include "qg/internal/pg.h"
#include "qg/internal/sql.h"
#include "qg/internal/test_hooks.h"

namespace qg {
namespace {

namespace sql = internal::sql;

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

absl::Status CheckSchema(PGconn* conn) {
  absl::StatusOr<internal::Result> r = internal::Exec(
      conn,
      "SELECT to_regclass('que_jobs') IS NOT NULL, "
      "obj_description(to_regclass('que_jobs'), 'pg_class'), "
      "(SELECT count(*) FROM information_schema.columns "
      " WHERE table_name = 'que_jobs' AND table_schema = current_schema() "
      " AND column_name IN ('job_class', 'job_id', 'last_error'))");
  if (!r.ok()) return r.status();
  if (r->Get(0, 0) != "t") {
    return absl::FailedPreconditionError(
        "the que_jobs table does not exist in this database: create it with "
        "`qg migrate` or by applying schema/que_jobs.sql");
  }
  std::string version(r->Get(0, 1));
  if (r->Get(0, 2) != "3" || (!version.empty() && version != "3")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "que_jobs has the layout of another Que version (schema version \"",
        version,
        "\"); qg-cpp works Que 0.x's table (version 3), as que-go and qg do"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PrepareStatements(PGconn* conn) {
  for (auto [name, text] : {std::pair{sql::kLockJobName, sql::kLockJob},
                            std::pair{sql::kCheckJobName, sql::kCheckJob},
                            std::pair{sql::kDeleteJobName, sql::kDeleteJob},
                            std::pair{sql::kSetErrorName, sql::kSetError},
                            std::pair{sql::kUnlockJobName, sql::kUnlockJob},
                            std::pair{sql::kInsertJobName, sql::kInsertJob}}) {
    if (absl::Status s = internal::Prepare(conn, name, text); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SqlParam>> InsertParams(const NewJob& job) {
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
  if (!job.args.empty()) {
    if (absl::Status s = internal::ValidateJson(job.args); !s.ok()) return s;
  }
  return std::vector<SqlParam>{
      job.queue, absl::StrCat(job.priority),
      job.run_at ? SqlParam(internal::FormatTimestamp(*job.run_at))
                 : SqlParam(std::nullopt),
      job.type, job.args.empty() ? std::string("[]") : job.args};
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  {
    absl::StatusOr<internal::ConnPtr> conn =
        internal::Connect(options.conninfo);
    if (!conn.ok()) return conn.status();
    if (absl::Status s = CheckSchema(conn->get()); !s.ok()) return s;
  }
  auto hooks = std::make_shared<JobHooks>();
  hooks->delete_func = options.delete_func;
  hooks->error_func = options.error_func;
  hooks->backoff = options.backoff;
  hooks->logger = options.logger != nullptr ? options.logger : &DefaultLogger();
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
      logger_(hooks_->logger) {}

Client::~Client() { Close(); }

void Client::Close() { pool_->Close(); }

absl::StatusOr<int64_t> Client::Enqueue(const NewJob& job) {
  absl::StatusOr<std::vector<SqlParam>> params = InsertParams(job);
  if (!params.ok()) return params.status();
  if (options_.synchronous_work_map != nullptr) {
    return EnqueueSync(*params, nullptr);
  }
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<internal::Result> r =
      internal::ExecPrepared(conn->get(), sql::kInsertJobName, *params);
  if (!r.ok()) return r.status();
  int64_t id = 0;
  if (r->rows() != 1 || !absl::SimpleAtoi(r->Get(0, 0), &id)) {
    return absl::InternalError("INSERT returned no job_id");
  }
  return id;
}

absl::StatusOr<int64_t> Client::EnqueueInTx(const NewJob& job, Executor& tx) {
  absl::StatusOr<std::vector<SqlParam>> params = InsertParams(job);
  if (!params.ok()) return params.status();
  if (options_.synchronous_work_map != nullptr) {
    return EnqueueSync(*params, &tx);
  }
  absl::StatusOr<Rows> rows = tx.Query(sql::kInsertJob, *params);
  if (!rows.ok()) return rows.status();
  int64_t id = 0;
  if (rows->rows.size() != 1 || !rows->rows[0][0] ||
      !absl::SimpleAtoi(*rows->rows[0][0], &id)) {
    return absl::InternalError("INSERT returned no job_id");
  }
  return id;
}

absl::StatusOr<int64_t> Client::EnqueueInTx(const NewJob& job,
                                            PGconn* tx_conn) {
  if (tx_conn == nullptr) {
    return absl::InvalidArgumentError("EnqueueInTx: null connection");
  }
  PgExecutor exec(tx_conn);
  return EnqueueInTx(job, exec);
}

absl::StatusOr<int64_t> Client::EnqueueSync(const std::vector<SqlParam>& params,
                                            Executor* tx) {
  auto job = std::unique_ptr<Job>(new Job);
  job->hooks_ = hooks_;
  std::unique_ptr<BorrowedTx> borrowed;
  if (tx != nullptr) {
    // Inside the caller's transaction: the row is invisible to other
    // sessions until commit, so no lock is needed; the handler writes and the
    // job's deletion go through the caller's transaction.
    absl::StatusOr<Rows> rows = tx->Query(sql::kInsertJobReturningRow, params);
    if (!rows.ok()) return rows.status();
    if (rows->rows.size() != 1) return absl::InternalError("INSERT: no row");
    const auto& row = rows->rows[0];
    if (absl::Status s = job->LoadRow(
            [&](int c) -> std::optional<std::string> { return row[c]; });
        !s.ok()) {
      return s;
    }
    borrowed = std::make_unique<BorrowedTx>(*tx);
    job->injected_tx_ = borrowed.get();
  } else {
    absl::StatusOr<internal::PooledConn> conn =
        pool_->Acquire(options_.acquire_timeout);
    if (!conn.ok()) return conn.status();
    absl::StatusOr<internal::Result> r =
        internal::Exec(conn->get(), sql::kInsertJobReturningRow, params);
    if (!r.ok()) return r.status();
    if (absl::Status s = job->LoadRow([&](int c) -> std::optional<std::string> {
          return r->GetOptional(0, c);
        });
        !s.ok()) {
      return s;
    }
    absl::StatusOr<internal::Result> locked =
        internal::Exec(conn->get(), "SELECT pg_try_advisory_lock($1)",
                       {absl::StrCat(job->id_)});
    if (!locked.ok()) return locked.status();
    if (locked->Get(0, 0) != "t") return job->id_;  // a worker has it already
    absl::MutexLock lock(&job->mu_);
    job->conn_ = conn->get();
    job->pooled_ = std::move(*conn);
    job->locked_ = true;
  }
  int64_t id = job->id_;
  absl::Status s = PerformJob(*job, *options_.synchronous_work_map, *logger_);
  if (!s.ok()) return s;
  return id;
}

absl::StatusOr<std::unique_ptr<Job>> Client::LockJob(absl::string_view queue) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  constexpr int kMaxAttempts = 10;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    absl::StatusOr<internal::Result> r = internal::ExecPrepared(
        conn->get(), sql::kLockJobName, {std::string(queue)});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return nullptr;  // no job ready
    auto job = std::unique_ptr<Job>(new Job);
    job->hooks_ = hooks_;
    if (absl::Status s = job->LoadRow([&](int c) -> std::optional<std::string> {
          return r->GetOptional(0, c);
        });
        !s.ok()) {
      return s;
    }
    if (const auto& hook = internal::AfterLockHookForTesting(); hook) {
      hook(job->id_);
    }
    // Another worker may have finished the job between our snapshot and our
    // lock: check that the row is still there.
    absl::StatusOr<internal::Result> check =
        internal::ExecPrepared(conn->get(), sql::kCheckJobName,
                               {job->queue_, absl::StrCat(job->priority_),
                                job->run_at_text_, absl::StrCat(job->id_)});
    if (check.ok() && check->rows() > 0) {
      absl::MutexLock lock(&job->mu_);
      job->conn_ = conn->get();
      job->pooled_ = std::move(*conn);
      job->locked_ = true;
      return job;
    }
    absl::StatusOr<internal::Result> unlocked = internal::ExecPrepared(
        conn->get(), sql::kUnlockJobName, {absl::StrCat(job->id_)});
    if (!check.ok() || !unlocked.ok()) {
      // The lock may still be held: close the session rather than return a
      // connection with a stray lock to the pool.
      conn->Discard();
      return !check.ok() ? check.status() : unlocked.status();
    }
  }
  return ErrAgain();
}

absl::StatusOr<std::vector<JobStats>> Client::Stats() {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  return QueryJobStats(exec);
}

}  // namespace qg
