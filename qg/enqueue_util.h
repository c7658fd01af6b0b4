// qg/enqueue_util.h
// -----------------------------------------------------------------------------
//
// What the enqueue paths of `qg::Client` share (private to //qg:client): the
// single-job paths in client.cc and the bulk ones (`EnqueueMany`,
// `EnqueueStream`) in client_bulk.cc.
#ifndef QG_ENQUEUE_UTIL_H_
#define QG_ENQUEUE_UTIL_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libpq-fe.h"
#include "qg/executor.h"
#include "qg/internal/queries.h"

namespace qg::internal {

// Runs `call` through `exec`.
absl::StatusOr<Rows> QueryCall(Executor& exec, const Call& call);

// Reads the one que_jobs row `rows` holds.
absl::StatusOr<JobRow> OneRow(const Rows& rows);

// `FailedPrecondition` saying that unique jobs need `qg migrate`.
absl::Status MissingUniqueSchema();

// A failed unique statement's status: undefined column (42703) or no unique
// index to infer (42P10) mean that the additions are missing
// (`MissingUniqueSchema()`); anything else is returned as it is.
absl::Status UniqueStatementError(const absl::Status& status);

// Inserts the unique job `row` through `exec`, or finds the stored job that
// holds its key. Returns the stored row and whether it was a duplicate;
// `Aborted` when ten tries neither inserted it nor saw the holder.
absl::StatusOr<std::pair<JobRow, bool>> InsertUnique(Executor& exec,
                                                     const InsertRow& row);

// Stores `row`, which has parents (`InsertRow::depends_on`), as a waiting
// child through `exec` (one statement: row, edges and the parents' marks)
// and returns its id. An unknown parent is `NotFound`, a dead or cancelled
// one `FailedPrecondition`; a schema without workflows (qg_enqueue_child)
// is `FailedPrecondition` saying to run `qg migrate`.
absl::StatusOr<int64_t> InsertChild(Executor& exec, const InsertRow& row);

// `status` with `prefix` before its message; code and payloads (such as
// `IsErrMissingType()`'s) kept.
absl::Status Prefixed(const absl::Status& status, absl::string_view prefix);

// OK when `conn`, the caller's connection, is inside an open transaction
// (or busy or broken, which the next statement reports); otherwise
// `FailedPrecondition` naming `call`. The Executor form checks qg's libpq
// executors (`PgExecutor`, `PgTx`) and trusts any other kind.
absl::Status CheckOpenTransaction(PGconn* conn, absl::string_view call);
absl::Status CheckOpenTransaction(Executor& exec, absl::string_view call);

}  // namespace qg::internal

#endif  // QG_ENQUEUE_UTIL_H_
