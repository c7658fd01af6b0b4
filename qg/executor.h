// qg/executor.h
// -----------------------------------------------------------------------------
//
// The database seam of qg-cpp, the counterpart of Go qg's `Queryer` and
// `Txer`: anything that can run a parameterized SQL statement. qg-cpp
// enqueues through an `Executor` so that a job joins the caller's own
// transaction, whatever libpq-based library manages it: implement `Executor`
// over your library's connection, or wrap a raw `PGconn*` in `PgExecutor`.
//
// Example:
//   PGconn* conn = ...;                  // yours, inside BEGIN
//   qg::PgExecutor tx(conn);
//   QG_ASSIGN_OR_RETURN(int64_t id, client->EnqueueInTx(job, tx));
//   PQexec(conn, "COMMIT");              // the job commits with your rows
#ifndef QG_EXECUTOR_H_
#define QG_EXECUTOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libpq-fe.h"
#include "qg/pg.h"

namespace qg {

// The rows a statement returned, as text (PostgreSQL's text output format);
// `std::nullopt` is SQL NULL.
struct Rows {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  // Rows inserted, updated or deleted by the statement.
  int64_t affected = 0;
};

// Executor
//
// Runs one parameterized statement (`$1`, `$2`, ... bound to `params` as
// text). Implementations must return a non-OK status for any database error;
// codes follow the SQLSTATE as in `qg/pg.h` (connection loss →
// `Unavailable`, serialization failure → `Aborted`, ...).
class Executor {
 public:
  virtual ~Executor() = default;
  virtual absl::StatusOr<Rows> Query(absl::string_view sql,
                                     const std::vector<SqlParam>& params) = 0;
};

// Tx
//
// An `Executor` inside a transaction it can end (Go qg's `Txer`).
class Tx : public Executor {
 public:
  virtual absl::Status Commit() = 0;
  virtual absl::Status Rollback() = 0;
};

// PgExecutor
//
// Runs statements on a `PGconn*` the caller owns and keeps owning (not
// thread-safe; one statement at a time, like the connection itself).
class PgExecutor : public Executor {
 public:
  explicit PgExecutor(PGconn* conn) : conn_(conn) {}
  absl::StatusOr<Rows> Query(absl::string_view sql,
                             const std::vector<SqlParam>& params) override;
  PGconn* conn() const { return conn_; }

 private:
  PGconn* conn_;
};

// PgTx
//
// A transaction on a `PGconn*`: `Begin()` sends BEGIN; the destructor rolls
// back unless `Commit()` or `Rollback()` ran.
class PgTx : public Tx {
 public:
  static absl::StatusOr<std::unique_ptr<PgTx>> Begin(PGconn* conn);
  ~PgTx() override;

  absl::StatusOr<Rows> Query(absl::string_view sql,
                             const std::vector<SqlParam>& params) override;
  absl::Status Commit() override;
  absl::Status Rollback() override;
  // True until Commit() or Rollback().
  bool open() const { return open_; }
  PGconn* conn() const { return conn_; }

 private:
  explicit PgTx(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
  bool open_ = true;
};

}  // namespace qg

#endif  // QG_EXECUTOR_H_
