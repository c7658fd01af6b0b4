// Worker, WorkerPool, WorkMap, typed args and synchronous mode against a real
// PostgreSQL.
#include "qg/worker/worker.h"

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/example_job.pb.h"
#include "qg/testing/job.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"
#include "qg/typed.h"

namespace qg {
namespace {

using ::qg_testing::StatusIs;
using ::qg_testing::example::SendEmail;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class WorkerTest : public qg_testing::DatabaseTest {
 protected:
  WorkerTest() : DatabaseTest(ClientDefaults(/*max_conns=*/1)) {}

  // `max_conns` connections and a short acquire timeout: with one
  // connection, a leaked one makes the next LockJob time out.
  static ClientOptions ClientDefaults(int max_conns) {
    return {.max_conns = max_conns, .acquire_timeout = absl::Seconds(3)};
  }
  absl::StatusOr<std::unique_ptr<Client>> NewClient(int max_conns) {
    return DatabaseTest::NewClient(ClientDefaults(max_conns));
  }

  WorkMap work_map_;
};

TEST_F(WorkerTest, WorkOneOnEmptyQueueDoesNothing) {
  Worker worker(client_.get(), &work_map_);
  EXPECT_FALSE(worker.WorkOne());
}

TEST_F(WorkerTest, WorkOneRunsHandlerAndDeletesJob) {
  std::string seen;
  work_map_.Register("MyJob", [&](Job& job) {
    seen = job.args();
    return absl::OkStatus();
  });
  QG_ASSERT_OK(client_->Enqueue({.type = "MyJob", .args = "[42]"}).status());
  Worker worker(client_.get(), &work_map_);
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_EQ(seen, "[42]");
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
  EXPECT_FALSE(worker.WorkOne());
}

TEST_F(WorkerTest, HandlerErrorIsRecordedAndConnectionReturned) {
  work_map_.Register(
      "Fails", [](Job&) { return absl::InternalError("smtp server said no"); });
  QG_ASSERT_OK(client_->Enqueue({.type = "Fails"}).status());
  Worker worker(client_.get(), &work_map_);
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_EQ(
      Query("SELECT format('%s|%s', error_count, last_error) FROM que_jobs"),
      "1|smtp server said no");
  // max_conns is 1: a leaked connection would make this time out.
  QG_ASSERT_OK(client_->Enqueue({.type = "Fails", .queue = "other"}).status());
  EXPECT_THAT(logger_.messages(),
              ::testing::Contains(HasSubstr("smtp server said no")));
}

TEST_F(WorkerTest, ThrownExceptionIsRecordedAndWorkerSurvives) {
  work_map_.Register("Throws", [](Job&) -> absl::Status {
    throw std::runtime_error("kaboom");
  });
  work_map_.Register("ThrowsInt", [](Job&) -> absl::Status { throw 42; });
  QG_ASSERT_OK(client_->Enqueue({.type = "Throws", .priority = 1}).status());
  QG_ASSERT_OK(client_->Enqueue({.type = "ThrowsInt", .priority = 2}).status());
  Worker worker(client_.get(), &work_map_);
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_EQ(Query("SELECT last_error FROM que_jobs WHERE job_class = 'Throws'"),
            "handler threw: kaboom");
  EXPECT_THAT(
      Query("SELECT last_error FROM que_jobs WHERE job_class = 'ThrowsInt'"),
      HasSubstr("not derived from std::exception"));
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
}

TEST_F(WorkerTest, UnknownTypeIsRecordedAsError) {
  QG_ASSERT_OK(client_->Enqueue({.type = "Nobody::Handles"}).status());
  Worker worker(client_.get(), &work_map_);
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_EQ(
      Query("SELECT format('%s|%s', error_count, last_error) FROM que_jobs"),
      "1|unknown job type: \"Nobody::Handles\"");
  EXPECT_FALSE(worker.WorkOne());  // backed off, not retried at once
}

TEST_F(WorkerTest, ShutdownStopsWork) {
  WorkerOptions options;
  options.interval = absl::Milliseconds(10);
  Worker worker(client_.get(), &work_map_, options);
  std::thread t([&] { worker.Work(); });
  absl::SleepFor(absl::Milliseconds(50));
  worker.Shutdown();
  t.join();
  worker.Shutdown();  // twice is fine
}

TEST_F(WorkerTest, ShutdownLetsTheRunningJobFinish) {
  std::promise<void> started;
  std::shared_future<void> started_done = started.get_future().share();
  std::atomic<bool> finished{false};
  work_map_.Register("Slow", [&](Job&) {
    started.set_value();
    absl::SleepFor(absl::Milliseconds(300));
    finished = true;
    return absl::OkStatus();
  });
  QG_ASSERT_OK(client_->Enqueue({.type = "Slow"}).status());
  WorkerOptions options;
  options.interval = absl::Milliseconds(10);
  Worker worker(client_.get(), &work_map_, options);
  std::thread t([&] { worker.Work(); });
  started_done.wait();
  worker.Shutdown();
  EXPECT_TRUE(finished);
  t.join();
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

TEST(WorkerOptionsTest, DefaultsComeFromQueEnvironment) {
  setenv("QUE_WAKE_INTERVAL", "0.25", 1);
  setenv("QUE_QUEUE", "mail", 1);
  WorkerOptions options;
  EXPECT_EQ(options.interval, absl::Milliseconds(250));
  EXPECT_EQ(options.queue, "mail");
  unsetenv("QUE_WAKE_INTERVAL");
  unsetenv("QUE_QUEUE");
  WorkerOptions defaults;
  EXPECT_EQ(defaults.interval, absl::Seconds(5));
  EXPECT_EQ(defaults.queue, "");
}

TEST_F(WorkerTest, PoolDrainsThousandsOfJobsEachExactlyOnce) {
  constexpr int kJobs = 3000;
  constexpr int kWorkers = 8;
  QG_ASSERT_OK_AND_ASSIGN(auto client, NewClient(kWorkers + 1));
  QG_ASSERT_OK(qg::Exec(conn_.get(),
                        "INSERT INTO que_jobs (job_class, args) SELECT "
                        "'Count', format('[%s]', i)::json FROM "
                        "generate_series(1, $1) i",
                        {absl::StrCat(kJobs)})
                   .status());
  std::mutex mu;
  absl::flat_hash_map<int64_t, int> runs;
  std::atomic<int> total{0};
  work_map_.Register("Count", [&](Job& job) {
    std::lock_guard<std::mutex> lock(mu);
    ++runs[job.id()];
    ++total;
    return absl::OkStatus();
  });
  WorkerOptions options;
  options.interval = absl::Milliseconds(20);
  WorkerPool pool(client.get(), &work_map_, kWorkers, options);
  QG_ASSERT_OK(pool.Start());
  absl::Time deadline = absl::Now() + absl::Minutes(3);
  while (Query("SELECT count(*) FROM que_jobs") != "0" &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  pool.Shutdown();
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
  EXPECT_EQ(total.load(), kJobs);
  EXPECT_EQ(runs.size(), static_cast<size_t>(kJobs));
  for (const auto& [id, n] : runs) EXPECT_EQ(n, 1) << "job " << id;
  pool.Shutdown();  // twice is fine
}

TEST_F(WorkerTest, TypedArgsRoundTrip) {
  SendEmail email;
  email.set_to("ada@example.com");
  email.set_subject("Hi \"there\"\n");
  email.set_attempt(3);
  email.mutable_send_after()->set_seconds(1800000000);
  email.add_tags("welcome");
  QG_ASSERT_OK_AND_ASSIGN(NewJob job, NewTypedJob(email, {.queue = "mail"}));
  EXPECT_EQ(job.type, "qg_testing.example.SendEmail");
  EXPECT_EQ(job.queue, "mail");
  QG_ASSERT_OK(client_->Enqueue(job).status());
  EXPECT_THAT(Query("SELECT args::text FROM que_jobs"),
              HasSubstr("\"to\":\"ada@example.com\""));
  SendEmail received;
  work_map_.Register<SendEmail>([&](Job&, const SendEmail& m) {
    received = m;
    return absl::OkStatus();
  });
  WorkerOptions options;
  options.queue = "mail";
  Worker worker(client_.get(), &work_map_, options);
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_EQ(received.SerializeAsString(), email.SerializeAsString());
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

TEST_F(WorkerTest, MalformedTypedArgsFailTheJobCleanly) {
  int calls = 0;
  work_map_.Register<SendEmail>([&](Job&, const SendEmail&) {
    ++calls;
    return absl::OkStatus();
  });
  QG_ASSERT_OK(client_
                   ->Enqueue({.type = "qg_testing.example.SendEmail",
                              .args = R"(["ada@example.com", 1])"})
                   .status());
  QG_ASSERT_OK(client_
                   ->Enqueue({.type = "qg_testing.example.SendEmail",
                              .args = R"({"attempt": "three"})",
                              .priority = 200})
                   .status());
  Worker worker(client_.get(), &work_map_);
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE error_count = 1 AND "
                  "last_error LIKE 'args do not parse as "
                  "qg_testing.example.SendEmail:%'"),
            "2");
}

TEST_F(WorkerTest, UntypedHandlerGetsRubyStyleArrayArgs) {
  // What Ruby Que 0.x enqueues: job_class and a JSON array of arguments.
  QG_ASSERT_OK(qg::Exec(conn_.get(),
                        "INSERT INTO que_jobs (job_class, args) VALUES "
                        "('ChargeCreditCard', '[1, {\"amount\": 100}]')")
                   .status());
  std::string args;
  work_map_.Register("ChargeCreditCard", [&](Job& job) {
    args = job.args();
    return absl::OkStatus();
  });
  Worker worker(client_.get(), &work_map_);
  EXPECT_TRUE(worker.WorkOne());
  EXPECT_EQ(args, R"([1, {"amount": 100}])");
}

TEST_F(WorkerTest, WorkFuncUnitTestWithInjectedTransaction) {
  Query("CREATE TABLE sent (address text) ");
  WorkFunc send = [](Job& job) -> absl::Status {
    absl::StatusOr<Tx*> tx = job.Tx();
    if (!tx.ok()) return tx.status();
    return (*tx)->Query("INSERT INTO sent VALUES ($1)", {job.args()}).status();
  };
  QG_ASSERT_OK_AND_ASSIGN(auto tx, PgTx::Begin(conn_.get()));
  auto job = qg_testing::NewTestJob({.type = "Send", .args = "\"a@b\""});
  qg_testing::TestInjectJobTx(job.get(), tx.get());
  QG_ASSERT_OK(send(*job));
  QG_ASSERT_OK_AND_ASSIGN(Rows rows, tx->Query("SELECT address FROM sent", {}));
  ASSERT_EQ(rows.rows.size(), 1u);
  EXPECT_EQ(rows.rows[0][0], "\"a@b\"");
  QG_ASSERT_OK(tx->Rollback());
  EXPECT_EQ(Query("SELECT count(*) FROM sent"), "0");
}

class SynchronousTest : public WorkerTest {
 protected:
  absl::StatusOr<std::unique_ptr<Client>> SyncClient() {
    ClientOptions options;
    options.synchronous = Synchronously(&work_map_);
    return DatabaseTest::NewClient(options);
  }
};

TEST_F(SynchronousTest, EnqueueRunsHandlerInline) {
  int calls = 0;
  work_map_.Register("Inline", [&](Job& job) {
    ++calls;
    EXPECT_GT(job.id(), 0);
    return absl::OkStatus();
  });
  QG_ASSERT_OK_AND_ASSIGN(auto client, SyncClient());
  QG_ASSERT_OK_AND_ASSIGN(int64_t id, client->Enqueue({.type = "Inline"}));
  EXPECT_GT(id, 0);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

TEST_F(SynchronousTest, FailingHandlerReturnsErrorAndKeepsJobForRetry) {
  work_map_.Register(
      "Fails", [](Job&) { return absl::FailedPreconditionError("not yet"); });
  QG_ASSERT_OK_AND_ASSIGN(auto client, SyncClient());
  EXPECT_THAT(client->Enqueue({.type = "Fails"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, "not yet"));
  EXPECT_EQ(
      Query("SELECT format('%s|%s', error_count, last_error) FROM que_jobs"),
      "1|not yet");
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
}

TEST_F(SynchronousTest, EnqueueInTxRunsInsideCallersTransaction) {
  Query("CREATE TABLE effects (n int) ");
  work_map_.Register("Effect", [](Job& job) -> absl::Status {
    absl::StatusOr<Tx*> tx = job.Tx();
    if (!tx.ok()) return tx.status();
    EXPECT_THAT((*tx)->Commit(),
                StatusIs(absl::StatusCode::kFailedPrecondition));
    return (*tx)->Query("INSERT INTO effects VALUES (1)", {}).status();
  });
  QG_ASSERT_OK_AND_ASSIGN(auto client, SyncClient());
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr caller, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(auto tx, PgTx::Begin(caller.get()));
  QG_ASSERT_OK(client->EnqueueInTx({.type = "Effect"}, *tx).status());
  QG_ASSERT_OK(tx->Rollback());
  EXPECT_EQ(Query("SELECT count(*) FROM effects"), "0");
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
  QG_ASSERT_OK_AND_ASSIGN(tx, PgTx::Begin(caller.get()));
  QG_ASSERT_OK(client->EnqueueInTx({.type = "Effect"}, *tx).status());
  QG_ASSERT_OK(tx->Commit());
  EXPECT_EQ(Query("SELECT count(*) FROM effects"), "1");
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

}  // namespace
}  // namespace qg
