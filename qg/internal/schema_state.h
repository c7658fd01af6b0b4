// qg/internal/schema_state.h
// -----------------------------------------------------------------------------
//
// What a database's `que_jobs` looks like: missing, Que 0.x's (what qg-cpp,
// que-go and qg work), or another Que version's. Used by `Client::Create()`
// and `qg migrate`.
#ifndef QG_INTERNAL_SCHEMA_STATE_H_
#define QG_INTERNAL_SCHEMA_STATE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libpq-fe.h"

namespace qg::internal {

struct QueSchemaState {
  enum class Kind { kMissing, kQue0, kOtherVersion };
  Kind kind = Kind::kMissing;
  std::string version;  // the table comment ("3" for Que 0.x), may be empty
  // `qg migrate` added job history (qg_job_history and its columns).
  bool has_history = false;
  // ... and this session's role may write it.
  bool may_record_history = false;
};

// Reads the state of `que_jobs` in the connection's current schema.
absl::StatusOr<QueSchemaState> InspectQueSchema(PGconn* conn);

// OK for Que 0.x's table; otherwise `FailedPrecondition` saying what is
// wrong and how to fix it.
absl::Status QueSchemaStatus(const QueSchemaState& state);

// `status`, or, when it says a table, column or function of `qg migrate`'s
// additions is missing (SQLSTATE 42P01, 42703, 42883), `FailedPrecondition`
// "<needs> `qg migrate` (<its message>)", e.g. needs = "batches need".
absl::Status MissingAdditionsError(const absl::Status& status,
                                   absl::string_view needs);

}  // namespace qg::internal

#endif  // QG_INTERNAL_SCHEMA_STATE_H_
