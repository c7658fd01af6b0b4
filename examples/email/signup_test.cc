// The example service, hermetically: its job is enqueued with the sign-up's
// commit, gone with its rollback, and the worker's effect lands.
#include "examples/email/signup.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/status_matchers.h"
#include "qg/worker/worker.h"

namespace email_service {
namespace {

using ::qg_testing::StatusIs;

// qg_testing::DatabaseTest gives each test a fresh database (db_), a
// connection of its own (conn_) and, from these options, a client (client_).
class SignUpTest : public qg_testing::DatabaseTest {
 protected:
  SignUpTest() : DatabaseTest(qg::ClientOptions{}) {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(DatabaseTest::SetUp());
    QG_ASSERT_OK(qg::ExecSimple(conn_.get(), kSchema).status());
  }
};

TEST_F(SignUpTest, JobIsEnqueuedWithTheCommit) {
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t id, SignUp(conn_.get(), *client_, "Ada", "ada@example.com"));
  EXPECT_GT(id, 0);
  EXPECT_EQ(Query("SELECT job_class FROM que_jobs"),
            "qg.examples.email.WelcomeEmail");
  EXPECT_THAT(Query("SELECT args::text FROM que_jobs"),
              ::testing::HasSubstr("\"address\":\"ada@example.com\""));
}

TEST_F(SignUpTest, JobIsGoneWithTheRollback) {
  QG_ASSERT_OK(
      SignUp(conn_.get(), *client_, "Ada", "ada@example.com").status());
  // The address is taken: the insert fails and the transaction rolls back,
  // taking the second job with it.
  EXPECT_THAT(SignUp(conn_.get(), *client_, "Imposter", "ada@example.com"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(Query("SELECT count(*) FROM users"), "1");
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "1");
}

TEST_F(SignUpTest, WorkerSendsTheEmail) {
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t id, SignUp(conn_.get(), *client_, "Ada", "ada@example.com"));
  qg::WorkMap work_map;
  RegisterHandlers(work_map);
  qg::Worker worker(client_.get(), &work_map);
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_EQ(Query("SELECT format('%s|%s', user_id, address) FROM sent_emails"),
            absl::StrCat(id, "|ada@example.com"));
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

}  // namespace
}  // namespace email_service
