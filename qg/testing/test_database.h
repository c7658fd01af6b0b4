// qg/testing/test_database.h
// -----------------------------------------------------------------------------
//
// `TestDatabase::Create()` is the cheap fresh database per test: one server
// per test binary (`SharedServer()`), one `CREATE DATABASE ... TEMPLATE`
// clone of the migrated template per test (~15 ms). A failed test's database
// is kept (not dropped) and its conninfo logged.
//
// Example:
//   TEST(MyTest, Works) {
//     QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
//     auto client = qg::Client::Create({.conninfo = db->conninfo()});
//     ...
//   }
#ifndef QG_TESTING_TEST_DATABASE_H_
#define QG_TESTING_TEST_DATABASE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "qg/testing/postgres.h"
#include "qg/testing/test_database.h"

namespace qg_testing {

// A fresh database on `SharedServer()` for one test.
class TestDatabase {
 public:
  // Create()
  //
  // Clones the migrated template into a new database.
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create();

  // Drops the database, unless the current gtest test has failed: then the
  // database is kept and its conninfo logged, for inspection while the binary
  // runs (set `QG_TESTING_KEEP_DATA=1` to keep the data directory after exit).
  ~TestDatabase();

  const std::string& name() const { return name_; }
  const std::string& conninfo() const { return conninfo_; }
  PostgresServer& server() const { return *server_; }

 private:
  TestDatabase(PostgresServer* server, std::string name);
  PostgresServer* server_;
  std::string name_;
  std::string conninfo_;
};

}  // namespace qg_testing

#endif  // QG_TESTING_TEST_DATABASE_H_
