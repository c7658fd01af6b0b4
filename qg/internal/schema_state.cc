#include "qg/internal/schema_state.h"

#include "absl/strings/str_cat.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"

namespace qg::internal {

absl::StatusOr<QueSchemaState> InspectQueSchema(PGconn* conn) {
  // Que 0.x's table has job_id and last_error; Que 1.x+ has id and
  // last_error_message, and a schema version of 4 or more as its comment.
  absl::StatusOr<PgResult> r = Run(conn, queries::InspectSchema());
  if (!r.ok()) return r.status();
  QueSchemaState state;
  state.version = std::string(r->Get(0, 1));
  state.has_history = r->cols() > 3 && r->Get(0, 3) == "t";
  state.may_record_history = r->cols() > 4 && r->Get(0, 4) == "t";
  if (r->Get(0, 0) != "t") {
    state.kind = QueSchemaState::Kind::kMissing;
  } else if (r->Get(0, 2) == "3" &&
             (state.version.empty() || state.version == "3")) {
    state.kind = QueSchemaState::Kind::kQue0;
  } else {
    state.kind = QueSchemaState::Kind::kOtherVersion;
  }
  return state;
}

absl::Status QueSchemaStatus(const QueSchemaState& state) {
  switch (state.kind) {
    case QueSchemaState::Kind::kQue0:
      return absl::OkStatus();
    case QueSchemaState::Kind::kMissing:
      return absl::FailedPreconditionError(
          "the que_jobs table does not exist in this database: create it "
          "with `qg migrate` or by applying schema/que_jobs.sql");
    case QueSchemaState::Kind::kOtherVersion:
      break;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "que_jobs has the layout of another Que version (schema version \"",
      state.version,
      "\"); qg-cpp works Que 0.x's table (version 3), as que-go and qg do"));
}

absl::Status MissingAdditionsError(const absl::Status& status,
                                   absl::string_view needs) {
  const std::string state = SqlState(status);
  if (state == "42P01" || state == "42703" || state == "42883") {
    return absl::FailedPreconditionError(
        absl::StrCat(needs, " `qg migrate` (", status.message(), ")"));
  }
  return status;
}

}  // namespace qg::internal
