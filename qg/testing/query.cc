#include "qg/testing/query.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "qg/pg.h"

namespace qg_testing {

std::string QueryValue(PGconn* conn, const std::string& sql,
                       const qg::SqlParams& params) {
  absl::StatusOr<qg::PgResult> r = qg::Exec(conn, sql, params);
  if (!r.ok()) {
    ADD_FAILURE() << sql << ": " << r.status();
    return "<error>";
  }
  if (r->rows() == 0 || r->cols() == 0) return "<no row>";
  return r->IsNull(0, 0) ? "<null>" : std::string(r->Get(0, 0));
}

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return done();
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

}  // namespace qg_testing
