// qg/testing/query.h
// -----------------------------------------------------------------------------
//
// Small helpers the database tests share: read one value, wait for a
// condition.
//
// Example:
//   EXPECT_EQ(qg_testing::QueryValue(conn, "SELECT count(*) FROM que_jobs"),
//             "0");
//   ASSERT_TRUE(qg_testing::WaitFor([&] { return runs == 3; }));
#ifndef QG_TESTING_QUERY_H_
#define QG_TESTING_QUERY_H_

#include <functional>
#include <string>

#include "absl/time/time.h"
#include "libpq-fe.h"
#include "qg/pg.h"

namespace qg_testing {

// QueryValue()
//
// The first field of the first row of `sql` (with text `params` as $1...) on
// `conn`: "<null>" for SQL NULL, "<no row>" when there is none. A failing
// query adds a gtest failure naming it and returns "<error>".
std::string QueryValue(PGconn* conn, const std::string& sql,
                       const qg::SqlParams& params = {});

// WaitFor()
//
// Polls `done` every 10 ms until it holds or `timeout` passes; returns it.
bool WaitFor(const std::function<bool()>& done,
             absl::Duration timeout = absl::Seconds(60));

}  // namespace qg_testing

#endif  // QG_TESTING_QUERY_H_
