#include "qg/batch.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/internal/queries.h"
#include "qg/internal/schema_state.h"

namespace qg::internal {
namespace {

absl::StatusOr<std::optional<absl::Time>> OptionalTime(const PgResult& r, int i,
                                                       int c) {
  if (r.IsNull(i, c)) return std::optional<absl::Time>();
  absl::StatusOr<absl::Time> t = ParseTimestamp(r.Get(i, c));
  if (!t.ok()) return t.status();
  return std::optional<absl::Time>(*t);
}

std::optional<int64_t> OptionalId(const PgResult& r, int i, int c) {
  int64_t v = 0;
  if (r.IsNull(i, c) || !absl::SimpleAtoi(r.Get(i, c), &v)) return std::nullopt;
  return v;
}

}  // namespace

absl::StatusOr<BatchInfo> ReadBatchRow(const PgResult& r, int i) {
  BatchInfo b;
  if (!absl::SimpleAtoi(r.Get(i, 0), &b.id)) {
    return absl::InternalError("a batch row without batch_id");
  }
  b.description = std::string(r.Get(i, 1));
  absl::StatusOr<absl::Time> created = ParseTimestamp(r.Get(i, 2));
  if (!created.ok()) return created.status();
  b.created_at = *created;
  absl::StatusOr<std::optional<absl::Time>> sealed = OptionalTime(r, i, 3);
  if (!sealed.ok()) return sealed.status();
  b.sealed_at = *sealed;
  absl::StatusOr<std::optional<absl::Time>> finished = OptionalTime(r, i, 4);
  if (!finished.ok()) return finished.status();
  b.finished_at = *finished;
  int64_t* counts[] = {&b.total, &b.completed, &b.dead, &b.cancelled};
  for (int c = 0; c < 4; ++c) {
    if (!absl::SimpleAtoi(r.Get(i, 5 + c), counts[c])) {
      return absl::InternalError("a batch row with a bad count");
    }
  }
  b.success_job_id = OptionalId(r, i, 9);
  b.finish_job_id = OptionalId(r, i, 10);
  return b;
}

absl::StatusOr<BatchInfo> GetBatch(PGconn* conn, int64_t id) {
  absl::StatusOr<PgResult> r = Run(conn, queries::BatchGet(id));
  if (!r.ok()) return MissingAdditionsError(r.status(), "batches need");
  if (r->rows() == 0) {
    return absl::NotFoundError(absl::StrCat("no batch ", id));
  }
  return ReadBatchRow(*r, 0);
}

}  // namespace qg::internal
