// qg/testing/test_database.h
// -----------------------------------------------------------------------------
//
// `TestDatabase::Create()` is the cheap fresh database per test: one embedded
// server per test binary (`SharedServer()`, a `qg::EmbeddedPostgres`), one
// `CREATE DATABASE ... TEMPLATE` clone of the migrated template per test
// (~15 ms). A failed test's database is kept (not dropped) and its conninfo
// logged.
//
// Errors: `Create()` returns what `EmbeddedPostgres::CreateDatabase()`
// returns; `SharedServer()` aborts the binary when no server can start.
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
#include "qg/embedded/embedded_postgres.h"

namespace qg_testing {

// SharedServer()
//
// One embedded server per process, started on first use and torn down at
// exit (or by its supervisor when the process is killed). Aborts the test
// binary with a clear message when the server cannot start.
qg::EmbeddedPostgres& SharedServer();

// TestDatabase
//
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

  // The database's name and conninfo.
  const std::string& name() const { return name_; }
  const std::string& conninfo() const { return conninfo_; }
  // The server it lives on.
  qg::EmbeddedPostgres& server() const { return *server_; }

 private:
  TestDatabase(qg::EmbeddedPostgres* server, std::string name);
  qg::EmbeddedPostgres* server_;
  std::string name_;
  std::string conninfo_;
};

}  // namespace qg_testing

#endif  // QG_TESTING_TEST_DATABASE_H_
