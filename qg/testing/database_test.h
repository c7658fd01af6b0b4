// qg/testing/database_test.h
// -----------------------------------------------------------------------------
//
// `DatabaseTest`: the fixture base of the tests that run against PostgreSQL.
// Each test gets a fresh database (`db_`, from `TestDatabase`), a connection
// of its own to it (`conn_`, for plain SQL beside the code under test), a
// logger that captures what qg logs (`logger_`, shown when the test fails)
// and, when the fixture asks for one, a client (`client_`).
//
// Errors: a database or connection that cannot be made fails the test in
// `SetUp()`; a failing `Query()` adds a test failure naming the statement.
//
// Example:
//   class SignUpTest : public qg_testing::DatabaseTest {
//    protected:
//     SignUpTest() : DatabaseTest({.max_conns = 4}) {}  // makes client_
//   };
//
//   TEST_F(SignUpTest, EnqueuesOneJob) {
//     QG_ASSERT_OK(client_->Enqueue({.type = "Welcome"}).status());
//     EXPECT_EQ(CountJobs("job_class = 'Welcome'"), 1);
//   }
//
// Parameterized fixtures add `::testing::WithParamInterface<T>` (see
// qg/testing/worker_modes.h).
#ifndef QG_TESTING_DATABASE_TEST_H_
#define QG_TESTING_DATABASE_TEST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/pg.h"
#include "qg/testing/capturing_logger.h"
#include "qg/testing/test_database.h"

namespace qg_testing {

// DatabaseTest
//
// Members are destroyed in reverse order: `client_` before the database,
// `logger_` last. Clients a test makes itself must not outlive the fixture.
class DatabaseTest : public ::testing::Test {
 protected:
  // A fixture without `client_`.
  DatabaseTest() = default;
  // A fixture whose `SetUp()` also makes `client_ = NewClient(options)`.
  explicit DatabaseTest(qg::ClientOptions options)
      : client_options_(std::move(options)) {}

  // Creates `db_`, `conn_` and, when asked for, `client_`.
  void SetUp() override;
  // When the test failed: prints how many lines qg logged, and the first.
  void TearDown() override;

  // NewClient()
  //
  // A client made from `options`, where an empty `conninfo` means this
  // test's database and a null `logger` means `&logger_`.
  absl::StatusOr<std::unique_ptr<qg::Client>> NewClient(
      qg::ClientOptions options = {});

  // Query()
  //
  // The first field of the first row of `sql` (with `params` as $1...) on
  // `conn_`: see `QueryValue` (qg/testing/query.h).
  std::string Query(const std::string& sql, const qg::SqlParams& params = {});

  // QueryInt()
  //
  // `Query()` as an integer; a test failure (and -1) when it is not one.
  int64_t QueryInt(const std::string& sql, const qg::SqlParams& params = {});

  // CountJobs()
  //
  // How many que_jobs rows match the SQL condition `where`.
  int64_t CountJobs(const std::string& where = "true");

  // HoldJobLock()
  //
  // A new session on `conninfo` (default: this test's database) holding job
  // `id`'s advisory lock, as a worker holds it; the lock goes with the
  // returned connection. A test failure when the lock is taken already.
  qg::PgConnPtr HoldJobLock(int64_t id, const std::string& conninfo = "");

  // EmptyDatabase()
  //
  // A database `name` on the same server without que_jobs (dropped first if
  // it exists); its conninfo.
  std::string EmptyDatabase(const std::string& name);

  CapturingLogger logger_;
  std::unique_ptr<TestDatabase> db_;
  qg::PgConnPtr conn_;
  std::unique_ptr<qg::Client> client_;

 private:
  std::optional<qg::ClientOptions> client_options_;
};

}  // namespace qg_testing

#endif  // QG_TESTING_DATABASE_TEST_H_
