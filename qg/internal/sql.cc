#include "qg/internal/sql.h"

#include <iterator>

#include "absl/strings/str_cat.h"
#include "qg/pg.h"

namespace qg::internal::sql {

const std::vector<const Statement*>& ClientStatements() {
  static const auto* all = new std::vector<const Statement*>(
      std::begin(kClientPrepared), std::end(kClientPrepared));
  return *all;
}

const std::vector<const Statement*>& LockerStatements() {
  static const auto* all = new std::vector<const Statement*>(
      std::begin(kLockerPrepared), std::end(kLockerPrepared));
  return *all;
}

absl::Status PrepareAll(PGconn* conn,
                        const std::vector<const Statement*>& statements) {
  for (const Statement* s : statements) {
    if (absl::Status st = Prepare(conn, s->name, s->text); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace qg::internal::sql
