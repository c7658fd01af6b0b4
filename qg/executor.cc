#include "qg/executor.h"

#include "absl/status/status.h"
#include "qg/pg.h"

namespace qg {

absl::StatusOr<Rows> PgExecutor::Query(absl::string_view sql,
                                       const std::vector<SqlParam>& params) {
  if (conn_ == nullptr) {
    return absl::FailedPreconditionError("no connection (job already done?)");
  }
  absl::StatusOr<PgResult> r = qg::Exec(conn_, sql, params);
  if (!r.ok()) return r.status();
  Rows rows;
  rows.affected = r->AffectedRows();
  for (int c = 0; c < r->cols(); ++c) {
    rows.columns.emplace_back(PQfname(r->get(), c));
  }
  rows.rows.resize(r->rows());
  for (int i = 0; i < r->rows(); ++i) {
    rows.rows[i].reserve(r->cols());
    for (int c = 0; c < r->cols(); ++c) {
      rows.rows[i].push_back(r->GetOptional(i, c));
    }
  }
  return rows;
}

absl::StatusOr<std::unique_ptr<PgTx>> PgTx::Begin(PGconn* conn) {
  if (conn == nullptr) {
    return absl::FailedPreconditionError("no connection (job already done?)");
  }
  if (absl::Status s = qg::ExecSimple(conn, "BEGIN").status(); !s.ok()) {
    return s;
  }
  return std::unique_ptr<PgTx>(new PgTx(conn));
}

PgTx::~PgTx() {
  if (open_) Rollback().IgnoreError();
}

absl::StatusOr<Rows> PgTx::Query(absl::string_view sql,
                                 const std::vector<SqlParam>& params) {
  if (!open_) return absl::FailedPreconditionError("transaction already ended");
  return PgExecutor(conn_).Query(sql, params);
}

absl::Status PgTx::Commit() {
  if (!open_) return absl::FailedPreconditionError("transaction already ended");
  open_ = false;
  return qg::ExecSimple(conn_, "COMMIT").status();
}

absl::Status PgTx::Rollback() {
  if (!open_) return absl::FailedPreconditionError("transaction already ended");
  open_ = false;
  return qg::ExecSimple(conn_, "ROLLBACK").status();
}

}  // namespace qg
