#include "qg/client.h"

#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/internal/json.h"
#include "qg/internal/pg.h"
#include "qg/internal/schema_state.h"
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
    absl::StatusOr<internal::QueSchemaState> schema =
        internal::InspectQueSchema(conn->get());
    if (!schema.ok()) return schema.status();
    if (absl::Status s = internal::QueSchemaStatus(*schema); !s.ok()) return s;
  }
  auto hooks = std::make_shared<JobHooks>();
  hooks->delete_func = options.delete_func;
  hooks->error_func = options.error_func;
  hooks->backoff = options.backoff;
  hooks->max_attempts = options.max_attempts;
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
    std::unique_lock<std::mutex> lock(job->mu_);
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
      std::unique_lock<std::mutex> lock(job->mu_);
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

absl::StatusOr<std::vector<JobInfo>> Client::DeadJobs(int limit) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<internal::Result> r = internal::Exec(
      conn->get(),
      "SELECT job_id, queue, job_class, priority, run_at, error_count, "
      "coalesce(last_error, '') FROM que_jobs WHERE run_at >= $1::timestamptz "
      "ORDER BY job_id LIMIT $2::int",
      {std::string(sql::kDeadRunAt), absl::StrCat(limit)});
  if (!r.ok()) return r.status();
  std::vector<JobInfo> out;
  for (int i = 0; i < r->rows(); ++i) {
    JobInfo info;
    int32_t prio = 0;
    if (!absl::SimpleAtoi(r->Get(i, 0), &info.id) ||
        !absl::SimpleAtoi(r->Get(i, 3), &prio) ||
        !absl::SimpleAtoi(r->Get(i, 5), &info.error_count)) {
      return absl::InternalError("unexpected que_jobs row");
    }
    info.priority = static_cast<int16_t>(prio);
    info.queue = std::string(r->Get(i, 1));
    info.type = std::string(r->Get(i, 2));
    absl::StatusOr<absl::Time> t = internal::ParseTimestamp(r->Get(i, 4));
    if (!t.ok()) return t.status();
    info.run_at = *t;
    info.last_error = std::string(r->Get(i, 6));
    out.push_back(std::move(info));
  }
  return out;
}

absl::Status Client::RetryJob(int64_t id) {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<internal::Result> r =
      internal::Exec(conn->get(), sql::kRetryJob, {absl::StrCat(id)});
  if (!r.ok()) return r.status();
  if (r->AffectedRows() == 0) {
    return absl::NotFoundError(absl::StrCat("no job with ID ", id));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<JobStats>> Client::Stats() {
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  PgExecutor exec(conn->get());
  return QueryJobStats(exec);
}

}  // namespace qg

namespace qg {

absl::StatusOr<std::vector<int64_t>> Client::EnqueueMany(
    const std::vector<NewJob>& jobs, Executor* tx) {
  constexpr size_t kChunk = 1000;
  std::vector<std::vector<SqlParam>> all;
  all.reserve(jobs.size());
  for (const NewJob& job : jobs) {
    absl::StatusOr<std::vector<SqlParam>> params = InsertParams(job);
    if (!params.ok()) return params.status();
    all.push_back(std::move(*params));
  }
  std::vector<int64_t> ids;
  ids.reserve(jobs.size());
  auto insert = [&](Executor& exec) -> absl::Status {
    for (size_t from = 0; from < all.size(); from += kChunk) {
      size_t to = std::min(all.size(), from + kChunk);
      std::vector<std::optional<std::string>> cols[5];
      for (size_t i = from; i < to; ++i) {
        for (int c = 0; c < 5; ++c) cols[c].push_back(all[i][c]);
      }
      std::vector<SqlParam> params;
      for (int c = 0; c < 5; ++c)
        params.push_back(internal::ArrayLiteral(cols[c]));
      absl::StatusOr<Rows> rows = exec.Query(sql::kInsertMany, params);
      if (!rows.ok()) return rows.status();
      for (const auto& row : rows->rows) {
        int64_t id = 0;
        if (!row[0] || !absl::SimpleAtoi(*row[0], &id)) {
          return absl::InternalError("INSERT returned no job_id");
        }
        ids.push_back(id);
      }
    }
    return absl::OkStatus();
  };
  if (tx != nullptr) {
    if (absl::Status s = insert(*tx); !s.ok()) return s;
    return ids;
  }
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<std::unique_ptr<PgTx>> own = PgTx::Begin(conn->get());
  if (!own.ok()) return own.status();
  if (absl::Status s = insert(**own); !s.ok()) return s;
  if (absl::Status s = (*own)->Commit(); !s.ok()) return s;
  return ids;
}

namespace {

absl::Status CopyError(PGconn* conn, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", PQerrorMessage(conn)));
}

// Streams `next` through COPY on `conn`, inside an open transaction.
absl::StatusOr<int64_t> CopyJobs(PGconn* conn, const Client::JobSource& next) {
  // Rows without run_at get the transaction's now(), which is what the
  // column default would give (COPY cannot ask for DEFAULT per row).
  absl::StatusOr<internal::Result> now =
      internal::Exec(conn, "SELECT now()::text");
  if (!now.ok()) return now.status();
  std::string tx_now(now->Get(0, 0));
  {
    internal::Result start(PQexec(conn, sql::kCopyJobs));
    if (PQresultStatus(start.get()) != PGRES_COPY_IN) {
      return internal::StatusFromResult(conn, start.get(), "COPY que_jobs");
    }
  }
  constexpr size_t kFlushAt = 64 * 1024;
  std::string buf;
  int64_t count = 0;
  absl::Status invalid;
  NewJob job;
  while (true) {
    job = NewJob();
    if (!next(job)) break;
    absl::StatusOr<std::vector<SqlParam>> params = InsertParams(job);
    if (!params.ok()) {
      invalid = absl::Status(
          params.status().code(),
          absl::StrCat("job #", count + 1,
                       " of the stream: ", params.status().message()));
      break;
    }
    const std::vector<SqlParam>& p = *params;
    internal::AppendCopyField(*p[0], buf);
    buf.push_back('\t');
    buf += *p[1];
    buf.push_back('\t');
    buf += p[2].has_value() ? *p[2] : tx_now;
    buf.push_back('\t');
    internal::AppendCopyField(*p[3], buf);
    buf.push_back('\t');
    internal::AppendCopyField(*p[4], buf);
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
  internal::Result end(PQgetResult(conn));
  absl::Status s = internal::StatusFromResult(conn, end.get(), "COPY que_jobs");
  while (PGresult* r = PQgetResult(conn)) PQclear(r);
  if (!s.ok()) return s;
  return count;
}

}  // namespace

absl::StatusOr<int64_t> Client::EnqueueStream(const JobSource& next,
                                              PGconn* tx_conn) {
  if (tx_conn != nullptr) return CopyJobs(tx_conn, next);
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
