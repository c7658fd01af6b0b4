// A DBA's database-wide timeouts (statement_timeout, lock_timeout,
// idle_in_transaction_session_timeout, idle_session_timeout): a pool's own
// sessions set what they need and keep working through quiet spells; a
// handler whose Job::Tx() statement the server cancels (statement_timeout)
// gets its error recorded and its job retried. A handler idling in its Tx()
// past idle_in_transaction_session_timeout: on the fast path (Tx() on a
// connection of its own) the server ends that session, and the error is
// recorded and the job retried; on the qg-compatible path, where Tx() runs
// on the session that holds the job's lock, that session turns the timeout
// off (the lock must outlive the handler) and the handler finishes.
#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/internal/sync.h"
#include "qg/pg.h"
#include "qg/testing/capturing_logger.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/worker_modes.h"
#include "qg/worker/worker.h"

namespace {

using ::qg_testing::QueryValue;
using ::testing::HasSubstr;
using ::testing::Not;

class DbaTimeoutsTest : public qg_testing::DatabaseTest,
                        public ::testing::WithParamInterface<qg::WorkerMode> {
 protected:
  void SetUp() override {
    qg_testing::DatabaseTest::SetUp();
    // As a DBA would, for every new session of the database.
    QG_ASSERT_OK(
        qg::ExecSimple(
            conn_.get(),
            absl::StrCat(
                "ALTER DATABASE ", db_->name(),
                " SET statement_timeout = '2s'; ALTER DATABASE ", db_->name(),
                " SET lock_timeout = '100ms'; ALTER DATABASE ", db_->name(),
                " SET idle_in_transaction_session_timeout = '300ms'; "
                "ALTER DATABASE ",
                db_->name(), " SET idle_session_timeout = '500ms'"))
            .status());
  }

  int64_t Count(const std::string& sql) {
    auto c = qg::Connect(db_->conninfo());
    if (!c.ok()) return -1;
    return std::stoll(QueryValue(c->get(), sql));
  }
};

TEST_P(DbaTimeoutsTest, PoolSessionsKeepWorkingAndAKilledTxIsRetried) {
  qg_testing::CapturingLogger logger;
  QG_ASSERT_OK_AND_ASSIGN(auto client,
                          qg::Client::Create({.conninfo = db_->conninfo(),
                                              .logger = &logger,
                                              .backoff = [](int32_t) {
                                                return absl::Milliseconds(100);
                                              }}));
  qg::internal::Mutex mu;
  std::vector<int> attempts_seen;  // error_count at each SlowTx run
  std::string second_run_error;
  std::vector<int> long_attempts;
  std::string long_error;
  std::atomic<int> quick{0};
  qg::WorkMap work_map;
  work_map.Register("Quick", [&](qg::Job&) {
    ++quick;
    return absl::OkStatus();
  });
  work_map.Register("SlowTx", [&](qg::Job& job) -> absl::Status {
    {
      qg::internal::MutexLock lock(mu);
      attempts_seen.push_back(job.error_count());
      if (job.error_count() > 0)
        second_run_error = job.last_error().value_or("");
    }
    absl::StatusOr<qg::Tx*> tx = job.Tx();
    if (!tx.ok()) return tx.status();
    if (absl::Status s = (*tx)->Query("SELECT 1", {}).status(); !s.ok()) {
      return s;
    }
    // The first attempt idles in its transaction past the DBA's 300 ms:
    // the server ends the session.
    if (job.error_count() == 0) absl::SleepFor(absl::Milliseconds(900));
    return (*tx)->Query("SELECT 2", {}).status();
  });
  work_map.Register("LongStatement", [&](qg::Job& job) -> absl::Status {
    {
      qg::internal::MutexLock lock(mu);
      long_attempts.push_back(job.error_count());
      if (job.error_count() > 0) long_error = job.last_error().value_or("");
    }
    absl::StatusOr<qg::Tx*> tx = job.Tx();
    if (!tx.ok()) return tx.status();
    // Past the DBA's statement_timeout (2 s) on the first attempt.
    return (*tx)
        ->Query(job.error_count() == 0 ? "SELECT pg_sleep(3)" : "SELECT 1", {})
        .status();
  });
  qg::WorkerPool pool(client.get(), &work_map, 3,
                      {.interval = absl::Milliseconds(50), .mode = GetParam()});
  QG_ASSERT_OK(pool.Start());
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 20; ++i)
      QG_ASSERT_OK(client->Enqueue({.type = "Quick"}));
    ASSERT_TRUE(qg_testing::WaitFor([&] { return quick == 20 * (round + 1); }))
        << "round " << round << ": " << quick;
    // Quiet for longer than idle_session_timeout: the pool's sessions must
    // not be ended for it.
    absl::SleepFor(absl::Milliseconds(1200));
  }
  QG_ASSERT_OK(client->Enqueue({.type = "SlowTx"}));
  QG_ASSERT_OK(client->Enqueue({.type = "LongStatement"}));
  EXPECT_TRUE(qg_testing::WaitFor(
      [&] { return Count("SELECT count(*) FROM que_jobs") == 0; },
      absl::Seconds(30)));
  pool.Shutdown();
  {
    qg::internal::MutexLock lock(mu);
    if (GetParam() == qg::WorkerMode::kFast) {
      EXPECT_EQ(attempts_seen, (std::vector<int>{0, 1})) << logger.text();
      EXPECT_THAT(second_run_error, Not(testing::IsEmpty()));
    } else {
      EXPECT_EQ(attempts_seen, (std::vector<int>{0})) << logger.text();
    }
    EXPECT_EQ(long_attempts, (std::vector<int>{0, 1})) << logger.text();
    EXPECT_THAT(long_error, HasSubstr("statement timeout"));
  }
  // The pool's own sessions were never lost.
  EXPECT_THAT(logger.text(), Not(HasSubstr("locker session lost")));
  EXPECT_THAT(logger.text(), Not(HasSubstr("control listener")));
}

INSTANTIATE_TEST_SUITE_P(Modes, DbaTimeoutsTest, qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

}  // namespace
