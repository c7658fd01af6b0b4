#include "qg/enqueue_util.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"

namespace qg::internal {

absl::StatusOr<Rows> QueryCall(Executor& exec, const Call& call) {
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

absl::StatusOr<int64_t> InsertChild(Executor& exec, const InsertRow& row) {
  absl::StatusOr<Rows> rows = QueryCall(exec, queries::EnqueueChild(row));
  if (!rows.ok()) {
    const absl::optional<absl::Cord> state =
        rows.status().GetPayload(kSqlStatePayload);
    if (state.has_value() && *state == "42883") {  // undefined function
      return absl::FailedPreconditionError(
          "NewJob::depends_on needs the workflow schema: run `qg migrate` "
          "(schema/qg_additions.sql)");
    }
    return rows.status();
  }
  int64_t id = 0;
  if (rows->rows.size() != 1 || !rows->rows[0][0] ||
      !absl::SimpleAtoi(*rows->rows[0][0], &id)) {
    return absl::InternalError("qg_enqueue_child returned no job_id");
  }
  return id;
}

namespace {

// How often a unique insert is tried when it neither inserted nor saw the
// key's holder (the holder committed after the statement's snapshot, or
// finished in between). Each try takes a new snapshot in READ COMMITTED.
constexpr int kUniqueAttempts = 10;

int ColumnIndex(const Rows& rows, absl::string_view name) {
  for (size_t i = 0; i < rows.columns.size(); ++i) {
    if (rows.columns[i] == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

absl::Status MissingUniqueSchema() {
  return absl::FailedPreconditionError(
      "unique jobs and limit keys need qg-cpp's schema additions (the "
      "qg_unique_key and qg_limit_key columns of que_jobs and the unique "
      "index), which this database lacks: run `qg migrate` (jobs without "
      "NewJob::unique and NewJob::limit_key work without them)");
}

// A failed unique statement: undefined column (42703) or no unique index
// to infer (42P10) mean that the additions are missing.
absl::Status UniqueStatementError(const absl::Status& status) {
  std::string state = qg::SqlState(status);
  if (state == "42703" || state == "42P10") return MissingUniqueSchema();
  return status;
}

// Inserts the unique job `row` through `exec`, or finds the stored job that
// holds its key. Returns the stored row and whether it was a duplicate.
absl::StatusOr<std::pair<JobRow, bool>> InsertUnique(Executor& exec,
                                                     const InsertRow& row) {
  for (int attempt = 0; attempt < kUniqueAttempts; ++attempt) {
    absl::StatusOr<Rows> rows =
        QueryCall(exec, internal::queries::InsertUniqueJob(row));
    if (!rows.ok()) return UniqueStatementError(rows.status());
    if (rows->rows.empty()) continue;  // look again with a new snapshot
    int dup = ColumnIndex(*rows, "qg_duplicate");
    if (dup < 0) return absl::InternalError("unique insert without flag");
    absl::StatusOr<JobRow> job = OneRow(*rows);
    if (!job.ok()) return job.status();
    return std::make_pair(std::move(*job), rows->rows[0][dup] == "t");
  }
  return absl::AbortedError(absl::StrCat(
      "enqueue of unique job ", row.unique_key.value_or(""), ": ",
      kUniqueAttempts,
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

}  // namespace qg::internal
