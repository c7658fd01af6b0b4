// Client and Job against a real PostgreSQL: the behaviours que-go's and qg's
// own suites check, one test each, plus qg's additions (bulk enqueue by
// array insert and COPY among them).
#include "qg/client.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/errors.h"
#include "qg/internal/test_hooks.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/job.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"

namespace qg {
namespace {

using ::qg_testing::IsOk;
using ::qg_testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

class ClientTest : public qg_testing::DatabaseTest {
 protected:
  ClientTest()
      : DatabaseTest({.max_conns = 4, .acquire_timeout = absl::Seconds(5)}) {}
  void TearDown() override {
    internal::AfterLockHookForTesting() = nullptr;
    DatabaseTest::TearDown();
  }

  int64_t AdvisoryLocks(int64_t id) {
    return QueryInt(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND ((classid::bigint << 32) + objid::bigint) = $1",
        {absl::StrCat(id)});
  }
  int64_t Enqueue(NewJob job) {
    auto id = client_->Enqueue(job);
    QG_EXPECT_OK(id.status());
    return id.value_or(-1);
  }
  // Enqueues a job, locks it into `job` and deletes it inside `tx`, a
  // transaction on the job's own connection that is left open.
  void LockAndDeleteInTx(std::unique_ptr<Job>& job, std::unique_ptr<PgTx>& tx) {
    Enqueue({.type = "MyJob"});
    QG_ASSERT_OK_AND_ASSIGN(job, client_->LockJob(""));
    ASSERT_NE(job, nullptr);
    QG_ASSERT_OK_AND_ASSIGN(tx, PgTx::Begin(job->Conn()));
    qg_testing::TestInjectJobTx(job.get(), tx.get());
    QG_ASSERT_OK(job->Delete());
  }
};

TEST_F(ClientTest, EnqueueOnlyTypeStoresDefaults) {
  int64_t id = Enqueue({.type = "MyJob"});
  EXPECT_GT(id, 0);
  EXPECT_EQ(Query("SELECT format('%s|%s|%s|%s|%s|%s', queue, priority, "
                  "job_class, args, error_count, last_error IS NULL) "
                  "FROM que_jobs WHERE job_id = $1",
                  {absl::StrCat(id)}),
            "|100|MyJob|[]|0|t");
  EXPECT_EQ(Query("SELECT abs(extract(epoch FROM now() - run_at)) < 60 "
                  "FROM que_jobs"),
            "t");
}

TEST_F(ClientTest, EnqueueWithPriority) {
  Enqueue({.type = "MyJob", .priority = 99});
  EXPECT_EQ(Query("SELECT priority FROM que_jobs"), "99");
}

TEST_F(ClientTest, EnqueueWithRunAtKeepsMicroseconds) {
  absl::Time run_at = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()) +
                                           3600 * 1000000LL + 123457);
  Enqueue({.type = "MyJob", .run_at = run_at});
  EXPECT_EQ(Query("SELECT (extract(epoch FROM run_at) * 1000000)::bigint "
                  "FROM que_jobs"),
            absl::StrCat(absl::ToUnixMicros(run_at)));
}

TEST_F(ClientTest, EnqueueWithArgsStoresThemByteForByte) {
  const std::string args = R"({ "b" : 1,"a":[2,  "x\u00e9"] , "c":null })";
  Enqueue({.type = "MyJob", .args = args});
  EXPECT_EQ(Query("SELECT args::text FROM que_jobs"), args);
}

TEST_F(ClientTest, EnqueueWithQueue) {
  Enqueue({.type = "MyJob", .queue = "special"});
  EXPECT_EQ(Query("SELECT queue FROM que_jobs"), "special");
}

TEST_F(ClientTest, EnqueueWithEmptyTypeFailsWithoutARow) {
  absl::StatusOr<int64_t> id = client_->Enqueue({.type = ""});
  EXPECT_TRUE(IsErrMissingType(id.status())) << id.status();
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kInvalidArgument,
                           "job type must be specified"));
  EXPECT_EQ(CountJobs(), 0);
}

TEST_F(ClientTest, EnqueueRejectsPriorityOutsideSmallintAndNulBytes) {
  EXPECT_THAT(
      client_->Enqueue({.type = "MyJob", .priority = 40000}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("smallint")));
  EXPECT_THAT(client_->Enqueue({.type = std::string("A\0B", 3)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  EXPECT_THAT(client_->Enqueue({.type = "MyJob", .args = "{not json"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("args are not valid JSON")));
  EXPECT_EQ(CountJobs(), 0);
}

// The args check and PostgreSQL's `json` input agree: what the server would
// store is enqueued byte for byte, what it would refuse is an InvalidArgument
// before any SQL. Edge cases of qg/internal/json_test.cc, asked of the server.
TEST_F(ClientTest, ArgsCheckAgreesWithPostgresJson) {
  int stored = 0;
  for (const std::string& args : std::vector<std::string>{
           "[1]",
           R"("\u0000")",
           R"("\ud800")",
           R"("\udc00\ud800")",
           R"("\ud800\u0041")",
           R"("\uD83D\uDE00")",
           "1e400",
           "-1e-400",
           std::string(400, '7'),
           "\"\x7f \xf4\x8f\xbf\xbf\"",
           std::string(512, '[') + std::string(512, ']'),
           "[1,]",
           "01",
           R"("\u12")",
           "\"\xff\"",
           "\"\xed\xa0\x80\"",
           "\"\xc0\xaf\"",
           "\"\xf4\x90\x80\x80\"",
           "\"tab\there\"",
           "NaN",
           "[1] x",
           // Beyond json_test.cc: keys, bytes outside strings, a BOM, other
           // whitespace.
           R"({"\u0000\udfff": "\/"})",
           "{\"k\xc3\xa9\": 1}",
           std::string("[1,\xff") + "2]",
           "\xef\xbb\xbf[1]",
           std::string("[1,\x0b") + "2]",
           "{\"k\xe9\": 1}",
       }) {
    absl::Status server =
        qg::Exec(conn_.get(), "SELECT $1::json", {args}).status();
    absl::StatusOr<int64_t> id = client_->Enqueue({.type = "J", .args = args});
    if (server.ok()) {
      QG_ASSERT_OK(id.status()) << args;
      EXPECT_EQ(Query("SELECT args::text FROM que_jobs WHERE job_id = $1",
                      {absl::StrCat(*id)}),
                args);
      ++stored;
    } else {
      EXPECT_THAT(id, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("args are not valid JSON")))
          << args << " (server: " << server << ")";
    }
  }
  EXPECT_EQ(stored, 13);  // the first 11, and 2 of the last 6 cases
}

TEST_F(ClientTest, EnqueueInTxIsVisibleInsideAndGoneAfterRollback) {
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr caller, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "BEGIN").status());
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t id, client_->EnqueueInTx({.type = "MyJob"}, caller.get()));
  QG_ASSERT_OK_AND_ASSIGN(
      auto inside,
      qg::Exec(caller.get(), "SELECT count(*) FROM que_jobs WHERE job_id = $1",
               {absl::StrCat(id)}));
  EXPECT_EQ(inside.Get(0, 0), "1");
  EXPECT_EQ(CountJobs(), 0);  // not visible to other sessions before commit
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "ROLLBACK").status());
  EXPECT_EQ(CountJobs(), 0);
}

TEST_F(ClientTest, EnqueueInTxThroughExecutorCommitsWithCaller) {
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr caller, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(auto tx, PgTx::Begin(caller.get()));
  QG_ASSERT_OK(tx->Query("CREATE TABLE orders (id int)", {}).status());
  QG_ASSERT_OK(tx->Query("INSERT INTO orders VALUES (1)", {}).status());
  QG_ASSERT_OK(
      client_->EnqueueInTx({.type = "ShipOrder", .args = "[1]"}, *tx).status());
  EXPECT_EQ(CountJobs(), 0);
  QG_ASSERT_OK(tx->Commit());
  EXPECT_EQ(CountJobs("job_class = 'ShipOrder'"), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM orders"), "1");
}

TEST_F(ClientTest, LockJobReturnsEveryColumnAndHoldsOneAdvisoryLock) {
  absl::Time run_at =
      absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()) - 5 * 1000000LL + 7);
  int64_t id = Enqueue({.type = "MyJob",
                        .args = R"([1, "two"])",
                        .queue = "q",
                        .priority = 7,
                        .run_at = run_at});
  QG_ASSERT_OK(qg::Exec(conn_.get(),
                        "UPDATE que_jobs SET error_count = 2, "
                        "last_error = 'boom'")
                   .status());
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Job> job, client_->LockJob("q"));
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->id(), id);
  EXPECT_EQ(job->queue(), "q");
  EXPECT_EQ(job->priority(), 7);
  EXPECT_EQ(job->run_at(), run_at);
  EXPECT_EQ(job->type(), "MyJob");
  EXPECT_EQ(job->args(), R"([1, "two"])");
  EXPECT_EQ(job->error_count(), 2);
  EXPECT_THAT(job->last_error(), Optional(std::string("boom")));
  EXPECT_EQ(AdvisoryLocks(id), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "1");
  job->Done();
  EXPECT_EQ(AdvisoryLocks(id), 0);
}

TEST_F(ClientTest, LockedJobIsNotReturnedToASecondLocker) {
  Enqueue({.type = "MyJob"});
  QG_ASSERT_OK_AND_ASSIGN(auto first, client_->LockJob(""));
  ASSERT_NE(first, nullptr);
  QG_ASSERT_OK_AND_ASSIGN(auto second, client_->LockJob(""));
  EXPECT_EQ(second, nullptr);
}

TEST_F(ClientTest, EmptyQueueReturnsNoJobAndNoError) {
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(""));
  EXPECT_EQ(job, nullptr);
}

TEST_F(ClientTest, FutureJobIsNotLocked) {
  Enqueue({.type = "MyJob", .run_at = absl::Now() + absl::Hours(1)});
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(""));
  EXPECT_EQ(job, nullptr);
}

TEST_F(ClientTest, QueuesAreSeparate) {
  int64_t id = Enqueue({.type = "MyJob", .queue = "a"});
  QG_ASSERT_OK_AND_ASSIGN(auto none, client_->LockJob("b"));
  EXPECT_EQ(none, nullptr);
  QG_ASSERT_OK_AND_ASSIGN(auto none_default, client_->LockJob(""));
  EXPECT_EQ(none_default, nullptr);
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob("a"));
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->id(), id);
}

TEST_F(ClientTest, LockJobTakesPriorityThenRunAtThenIdOrder) {
  absl::Time past = absl::Now() - absl::Minutes(1);
  int64_t late = Enqueue({.type = "J", .priority = 5, .run_at = past});
  int64_t early =
      Enqueue({.type = "J", .priority = 5, .run_at = past - absl::Seconds(1)});
  int64_t urgent = Enqueue({.type = "J", .priority = 1});
  int64_t same_time = Enqueue({.type = "J", .priority = 5, .run_at = past});
  std::vector<int64_t> order;
  std::vector<std::unique_ptr<Job>> held;
  for (int i = 0; i < 4; ++i) {
    QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(""));
    ASSERT_NE(job, nullptr);
    order.push_back(job->id());
    held.push_back(std::move(job));
  }
  EXPECT_THAT(order, ::testing::ElementsAre(urgent, early, late, same_time));
}

TEST_F(ClientTest, JobConnIsTheLockingSessionAndSafeAlongsideDone) {
  int64_t id = Enqueue({.type = "MyJob"});
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(""));
  ASSERT_NE(job, nullptr);
  PGconn* conn = job->Conn();
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(Query("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND "
                  "((classid::bigint << 32) + objid::bigint) = $1",
                  {absl::StrCat(id)}),
            absl::StrCat(PQbackendPID(conn)));
  std::atomic<bool> go{false};
  std::thread reader([&] {
    while (!go) {
    }
    for (int i = 0; i < 1000; ++i) job->Conn();
  });
  go = true;
  job->Done();
  reader.join();
  EXPECT_EQ(job->Conn(), nullptr);
}

TEST_F(ClientTest, JobDeletedBetweenSnapshotAndLockIsSkipped) {
  int64_t first = Enqueue({.type = "MyJob", .priority = 1});
  int64_t second = Enqueue({.type = "MyJob", .priority = 2});
  int calls = 0;
  internal::AfterLockHookForTesting() = [&](int64_t id) {
    if (calls++ == 0) {
      EXPECT_EQ(id, first);
      Query("DELETE FROM que_jobs WHERE job_id = $1 RETURNING 1",
            {absl::StrCat(id)});
    }
  };
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(""));
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->id(), second);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(AdvisoryLocks(first), 0);  // the skipped job was unlocked
}

TEST_F(ClientTest, LockJobGivesUpWithErrAgain) {
  for (int i = 0; i < 12; ++i) Enqueue({.type = "MyJob"});
  internal::AfterLockHookForTesting() = [&](int64_t id) {
    Query("DELETE FROM que_jobs WHERE job_id = $1 RETURNING 1",
          {absl::StrCat(id)});
  };
  absl::StatusOr<std::unique_ptr<Job>> job = client_->LockJob("");
  EXPECT_TRUE(IsErrAgain(job.status())) << job.status();
  EXPECT_THAT(job, StatusIs(absl::StatusCode::kUnavailable,
                            "maximum number of LockJob attempts reached"));
  EXPECT_EQ(CountJobs(), 2);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
}

TEST_F(ClientTest, DeleteThenDoneRemovesRowAndLock) {
  int64_t id = Enqueue({.type = "MyJob"});
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(""));
  ASSERT_NE(job, nullptr);
  QG_ASSERT_OK(job->Delete());
  EXPECT_EQ(CountJobs(), 0);
  EXPECT_EQ(AdvisoryLocks(id), 1);
  job->Done();
  EXPECT_EQ(AdvisoryLocks(id), 0);
  job->Done();  // twice is fine
  EXPECT_TRUE(job->done());
}

TEST_F(ClientTest, DoneReturnsTheConnectionToThePool) {
  ClientOptions options;
  options.conninfo = db_->conninfo();
  options.max_conns = 1;
  options.acquire_timeout = absl::Seconds(2);
  QG_ASSERT_OK_AND_ASSIGN(auto client, Client::Create(options));
  for (int i = 0; i < 3; ++i) {
    QG_ASSERT_OK(client->Enqueue({.type = "MyJob"}).status());
    QG_ASSERT_OK_AND_ASSIGN(auto job, client->LockJob(""));
    ASSERT_NE(job, nullptr);
    QG_ASSERT_OK(job->Delete());
    job->Done();
  }
  QG_ASSERT_OK_AND_ASSIGN(auto held, client->LockJob(""));
  EXPECT_EQ(held, nullptr);
}

TEST_F(ClientTest, DeleteInTransactionOnJobConnCommitted) {
  std::unique_ptr<Job> job;
  std::unique_ptr<PgTx> tx;
  ASSERT_NO_FATAL_FAILURE(LockAndDeleteInTx(job, tx));
  EXPECT_EQ(CountJobs(), 1);  // not committed yet
  QG_ASSERT_OK(tx->Commit());
  EXPECT_EQ(CountJobs(), 0);
  job->Done();
}

TEST_F(ClientTest, DeleteInTransactionOnJobConnRolledBack) {
  std::unique_ptr<Job> job;
  std::unique_ptr<PgTx> tx;
  ASSERT_NO_FATAL_FAILURE(LockAndDeleteInTx(job, tx));
  QG_ASSERT_OK(tx->Rollback());
  EXPECT_EQ(CountJobs(), 1);
  job->Done();
}

TEST_F(ClientTest, JobTxCommitsHandlerWritesWithTheDeletion) {
  Query("CREATE TABLE effects (job_id bigint) ");
  int64_t id = Enqueue({.type = "MyJob"});
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(""));
  ASSERT_NE(job, nullptr);
  QG_ASSERT_OK_AND_ASSIGN(Tx * tx, job->Tx());
  QG_ASSERT_OK(tx->Query("INSERT INTO effects VALUES ($1)", {absl::StrCat(id)})
                   .status());
  EXPECT_EQ(Query("SELECT count(*) FROM effects"), "0");
  QG_ASSERT_OK(job->Delete());
  EXPECT_EQ(Query("SELECT count(*) FROM effects"), "1");
  EXPECT_EQ(CountJobs(), 0);
  job->Done();
}

TEST_F(ClientTest, JobTxRolledBackOnError) {
  Query("CREATE TABLE effects (job_id bigint) ");
  Enqueue({.type = "MyJob"});
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(""));
  ASSERT_NE(job, nullptr);
  QG_ASSERT_OK_AND_ASSIGN(Tx * tx, job->Tx());
  QG_ASSERT_OK(tx->Query("INSERT INTO effects VALUES (1)", {}).status());
  QG_ASSERT_OK(job->Error("failed halfway"));
  job->Done();
  EXPECT_EQ(Query("SELECT count(*) FROM effects"), "0");
  EXPECT_EQ(Query("SELECT error_count FROM que_jobs"), "1");
}

TEST_F(ClientTest, ErrorKeepsRowWithCountMessageAndBackoff) {
  int64_t id = Enqueue({.type = "MyJob"});
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(""));
  ASSERT_NE(job, nullptr);
  QG_ASSERT_OK(job->Error("world\nline two"));
  job->Done();
  EXPECT_EQ(Query("SELECT format('%s|%s', error_count, last_error) FROM "
                  "que_jobs WHERE job_id = $1",
                  {absl::StrCat(id)}),
            "1|world\nline two");
  // 1^4 + 3 = 4 seconds from now.
  EXPECT_EQ(Query("SELECT extract(epoch FROM run_at - now()) BETWEEN 3 AND 4.5 "
                  "FROM que_jobs"),
            "t");
  EXPECT_EQ(AdvisoryLocks(id), 0);
}

TEST_F(ClientTest, SecondErrorUsesFourthPowerBackoff) {
  Enqueue({.type = "MyJob"});
  Query("UPDATE que_jobs SET error_count = 1 RETURNING 1");
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(""));
  ASSERT_NE(job, nullptr);
  QG_ASSERT_OK(job->Error("again"));
  job->Done();
  // 2^4 + 3 = 19 seconds.
  EXPECT_EQ(Query("SELECT error_count = 2 AND extract(epoch FROM run_at - "
                  "now()) BETWEEN 18 AND 19.5 FROM que_jobs"),
            "t");
}

TEST_F(ClientTest, StatsWhileLockedAfterErrorAndAfterDelete) {
  Enqueue({.type = "A", .queue = "q1"});
  Enqueue({.type = "A", .queue = "q1"});
  Enqueue({.type = "B"});
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob("q1"));
  ASSERT_NE(job, nullptr);
  QG_ASSERT_OK_AND_ASSIGN(std::vector<JobStats> stats, client_->Stats());
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].queue, "");
  EXPECT_EQ(stats[0].type, "B");
  EXPECT_EQ(stats[0].count, 1);
  EXPECT_EQ(stats[0].count_working, 0);
  EXPECT_EQ(stats[1].queue, "q1");
  EXPECT_EQ(stats[1].type, "A");
  EXPECT_EQ(stats[1].count, 2);
  EXPECT_EQ(stats[1].count_working, 1);
  EXPECT_EQ(stats[1].count_errored, 0);
  EXPECT_LT(absl::AbsDuration(stats[1].oldest_run_at - absl::Now()),
            absl::Minutes(1));

  QG_ASSERT_OK(job->Error("boom"));
  job->Done();
  QG_ASSERT_OK_AND_ASSIGN(stats, client_->Stats());
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[1].count_working, 0);
  EXPECT_EQ(stats[1].count_errored, 1);
  EXPECT_EQ(stats[1].highest_error_count, 1);

  QG_ASSERT_OK(qg::Exec(conn_.get(), "DELETE FROM que_jobs").status());
  QG_ASSERT_OK_AND_ASSIGN(stats, client_->Stats());
  EXPECT_TRUE(stats.empty());
}

TEST_F(ClientTest, CustomDeleteAndBackoffHooks) {
  Query("CREATE TABLE que_jobs_archive (job_id bigint, job_class text) ");
  ClientOptions options;
  options.conninfo = db_->conninfo();
  options.delete_func = [](Job& job, Executor& exec) -> absl::Status {
    absl::StatusOr<Rows> r =
        exec.Query("INSERT INTO que_jobs_archive VALUES ($1, $2)",
                   {absl::StrCat(job.id()), job.type()});
    if (!r.ok()) return r.status();
    return DefaultDelete(job, exec);
  };
  options.backoff = [](int32_t) { return absl::Hours(1); };
  QG_ASSERT_OK_AND_ASSIGN(auto client, Client::Create(options));
  QG_ASSERT_OK(client->Enqueue({.type = "Archived"}).status());
  QG_ASSERT_OK(client->Enqueue({.type = "Failing", .priority = 200}).status());
  QG_ASSERT_OK_AND_ASSIGN(auto job, client->LockJob(""));
  QG_ASSERT_OK(job->Delete());
  job->Done();
  EXPECT_EQ(Query("SELECT job_class FROM que_jobs_archive"), "Archived");
  QG_ASSERT_OK_AND_ASSIGN(job, client->LockJob(""));
  QG_ASSERT_OK(job->Error("later"));
  job->Done();
  EXPECT_EQ(Query("SELECT extract(epoch FROM run_at - now()) BETWEEN 3590 AND "
                  "3601 FROM que_jobs"),
            "t");
}

TEST_F(ClientTest, TestInjectJobConnRunsVerbsOnThatConnection) {
  int64_t id = Enqueue({.type = "MyJob"});
  QG_ASSERT_OK_AND_ASSIGN(auto key,
                          qg::Exec(conn_.get(), "SELECT run_at FROM que_jobs"));
  QG_ASSERT_OK_AND_ASSIGN(absl::Time run_at, qg::ParseTimestamp(key.Get(0, 0)));
  auto job = qg_testing::NewTestJob({.type = "MyJob", .run_at = run_at}, id);
  qg_testing::TestInjectJobConn(job.get(), conn_.get());
  EXPECT_EQ(job->Conn(), conn_.get());
  QG_ASSERT_OK(job->Delete());
  EXPECT_EQ(CountJobs(), 0);
}

TEST_F(ClientTest, BulkEnqueueIsAtomicWithTheCallersTransaction) {
  QG_ASSERT_OK_AND_ASSIGN(auto caller, qg::Connect(db_->conninfo()));
  auto source = [](int n) {
    return [n, i = 0](NewJob& job) mutable {
      if (i == n) return false;
      ++i;
      job.type = "Bulk";
      job.args = absl::StrCat("[", i, ", \"tab\\there\"]");
      job.priority = i % 3;
      return true;
    };
  };
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "BEGIN").status());
  QG_ASSERT_OK_AND_ASSIGN(int64_t n,
                          client_->EnqueueStream(source(5000), caller.get()));
  EXPECT_EQ(n, 5000);
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "ROLLBACK").status());
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");

  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "BEGIN").status());
  QG_ASSERT_OK(client_->EnqueueStream(source(5000), caller.get()).status());
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "COMMIT").status());
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "5000");
  EXPECT_EQ(Query("SELECT args::text FROM que_jobs WHERE args->>0 = '7'"),
            "[7, \"tab\\there\"]");
  EXPECT_EQ(Query("SELECT count(DISTINCT run_at) FROM que_jobs"), "1");

  // The array-insert flavour, typed or raw, returns ids in order.
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "BEGIN").status());
  PgExecutor exec(caller.get());
  std::vector<NewJob> jobs(2500, NewJob{.type = "Many", .args = "{}"});
  QG_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids,
                          client_->EnqueueMany(jobs, &exec));
  ASSERT_EQ(ids.size(), 2500u);
  EXPECT_LT(ids.front(), ids.back());
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "ROLLBACK").status());
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE job_class = 'Many'"),
            "0");
}

TEST_F(ClientTest, BulkEnqueueNotifiesOncePerStatementAndRejectsBadJobs) {
  QG_ASSERT_OK_AND_ASSIGN(auto listener, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK(qg::ExecSimple(listener.get(), "LISTEN qg_jobs").status());
  int i = 0;
  QG_ASSERT_OK(client_
                   ->EnqueueStream([&](NewJob& job) {
                     job.type = "N";
                     job.queue = i % 2 ? "a" : "b";
                     return ++i <= 1000;
                   })
                   .status());
  absl::SleepFor(absl::Milliseconds(100));
  PQconsumeInput(listener.get());
  std::vector<std::string> queues;
  while (PGnotify* n = PQnotifies(listener.get())) {
    queues.push_back(
        std::string(n->extra).substr(std::string(n->extra).find('\t') + 1));
    PQfreemem(n);
  }
  std::sort(queues.begin(), queues.end());
  EXPECT_THAT(queues, ElementsAre("a", "b"));  // one per queue, not per row

  int j = 0;
  absl::StatusOr<int64_t> bad = client_->EnqueueStream([&](NewJob& job) {
    job.type = ++j == 7 ? "" : "Bad";
    return j <= 10;
  });
  EXPECT_THAT(bad, qg_testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("job #7")));
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE job_class = 'Bad'"),
            "0");
}

// Issue 23, item 6: a bulk enqueue's validation error names the job, and
// keeps what the error is (IsErrMissingType still holds).
TEST_F(ClientTest, EnqueueManyErrorNamesTheJob) {
  std::vector<NewJob> jobs(2500, NewJob{.type = "Many"});
  jobs[1699].type = "";
  absl::StatusOr<std::vector<int64_t>> ids = client_->EnqueueMany(jobs);
  EXPECT_THAT(ids, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("job #1700 of 2500 (jobs[1699]): job "
                                      "type must be specified")));
  EXPECT_TRUE(IsErrMissingType(ids.status())) << ids.status();
  jobs[1699].type = "Many";
  jobs[2499].priority = 40000;
  EXPECT_THAT(client_->EnqueueManyDetailed(jobs),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("job #2500 of 2500 (jobs[2499])"),
                             HasSubstr("smallint"))));
  // EnqueueStream's errors keep what the error is too.
  int i = 0;
  absl::StatusOr<int64_t> streamed = client_->EnqueueStream([&](NewJob& job) {
    job.type = ++i == 3 ? "" : "Streamed";
    return i <= 5;
  });
  EXPECT_THAT(streamed, StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("job #3 of the stream")));
  EXPECT_TRUE(IsErrMissingType(streamed.status())) << streamed.status();
  EXPECT_EQ(CountJobs(), 0);
}

// `n` bytes of printable ASCII that PostgreSQL cannot compress, so that
// they take `n` bytes in an index.
std::string Incompressible(size_t n) {
  std::mt19937 random(static_cast<uint32_t>(n));
  std::uniform_int_distribution<int> printable(0x21, 0x7e);
  std::string s(n, ' ');
  for (char& c : s) c = static_cast<char>(printable(random));
  return s;
}

// Issue 23, item 6: what the server would refuse in a job's type, queue or
// unique key (invalid UTF-8; a queue too long for que_jobs' primary key) is
// refused before any SQL runs, in every enqueue call, naming the job in bulk
// calls: the caller's transaction is not broken by it.
TEST_F(ClientTest, FieldsTheServerWouldRefuseAreRefusedBeforeSql) {
  const std::string long_queue = Incompressible(3000);
  // The server's refusals, which the client spares the caller's transaction.
  EXPECT_FALSE(qg::Exec(conn_.get(),
                        "INSERT INTO que_jobs (job_class, queue) "
                        "VALUES ('T', $1)",
                        {long_queue})
                   .ok());  // index row size exceeds the btree maximum
  EXPECT_FALSE(qg::Exec(conn_.get(), "SELECT $1::text", {"T\xff"}).ok());
  struct Case {
    NewJob job;
    std::string want;
  };
  std::vector<Case> cases = {
      {{.type = "T\xff"}, "job type is not valid UTF-8 (byte 1)"},
      {{.type = "T\xed\xa0\x80"}, "job type is not valid UTF-8"},  // surrogate
      {{.type = "T", .queue = "q\xc0\xaf"}, "queue name is not valid UTF-8"},
      {{.type = "T", .queue = long_queue},
       "queue name has 3000 bytes; at most 1024"},
      {{.type = Incompressible(1025)}, "job type has 1025 bytes; at most 1024"},
      {{.type = "T", .unique = UniqueOpts{.key = "k\xfe"}},
       "unique key is not valid UTF-8"},
  };
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr caller, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PgTx> tx, PgTx::Begin(caller.get()));
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want);
    EXPECT_THAT(
        client_->EnqueueInTx(c.job, *tx),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.want)));
    EXPECT_THAT(
        client_->EnqueueMany({{.type = "Fine"}, c.job}, tx.get()),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 AllOf(HasSubstr("job #2 of 2 (jobs[1])"), HasSubstr(c.want))));
    EXPECT_EQ(PQtransactionStatus(caller.get()), PQTRANS_INTRANS)
        << "the caller's transaction broke";
    EXPECT_THAT(
        client_->Enqueue(c.job),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.want)));
    if (!c.job.unique.has_value()) {
      int i = 0;
      EXPECT_THAT(client_->EnqueueStream([&](NewJob& job) {
        job = ++i == 2 ? c.job : NewJob{.type = "Fine"};
        return i <= 3;
      }),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           AllOf(HasSubstr("job #2 of the stream"),
                                 HasSubstr(c.want))));
    }
  }
  QG_ASSERT_OK(tx->Query("SELECT 1", {}).status());
  QG_ASSERT_OK(tx->Commit());
  EXPECT_EQ(CountJobs(), 0);

  // At the limits, every table keyed by them takes them: que_jobs, the
  // throughput history and the paused queues.
  NewJob longest{.type = Incompressible(1024), .queue = Incompressible(1024)};
  QG_ASSERT_OK(client_->Enqueue(longest).status());
  QG_ASSERT_OK(qg::Exec(conn_.get(),
                        "INSERT INTO qg_job_counts (minute, queue, job_class) "
                        "VALUES (now(), $1, $2)",
                        {longest.queue, longest.type})
                   .status());
  QG_ASSERT_OK(client_->PauseQueue(longest.queue));
  EXPECT_EQ(CountJobs(), 1);
}

// Issue 23, item 7: EnqueueInTx, and EnqueueMany and EnqueueStream on the
// caller's connection, need its transaction open: on a connection outside
// BEGIN their jobs would commit on their own (EnqueueMany's, 1000 at a
// time), whatever the caller does next.
TEST_F(ClientTest, CallersConnectionMustBeInAnOpenTransaction) {
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr caller, qg::Connect(db_->conninfo()));
  PgExecutor exec(caller.get());
  auto one_job = [i = 0](NewJob& job) mutable {
    job.type = "Streamed";
    return ++i <= 1;
  };
  auto no_tx = HasSubstr("needs an open transaction");
  EXPECT_THAT(client_->EnqueueInTx({.type = "T"}, caller.get()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("EnqueueInTx"), no_tx)));
  EXPECT_THAT(client_->EnqueueInTx({.type = "T"}, exec),
              StatusIs(absl::StatusCode::kFailedPrecondition, no_tx));
  EXPECT_THAT(client_->EnqueueInTxDetailed(
                  {.type = "T", .unique = UniqueOpts{.key = "k"}}, exec),
              StatusIs(absl::StatusCode::kFailedPrecondition, no_tx));
  EXPECT_THAT(client_->EnqueueMany({{.type = "T"}, {.type = "T"}}, &exec),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("EnqueueMany"), no_tx)));
  EXPECT_THAT(client_->EnqueueStream(one_job, caller.get()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("EnqueueStream"), no_tx)));
  // A PgTx that was committed already.
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PgTx> tx, PgTx::Begin(caller.get()));
  QG_ASSERT_OK(tx->Commit());
  EXPECT_THAT(client_->EnqueueInTx({.type = "T"}, *tx),
              StatusIs(absl::StatusCode::kFailedPrecondition, no_tx));
  // A failed transaction: refused before the server would refuse it.
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "BEGIN").status());
  EXPECT_FALSE(qg::ExecSimple(caller.get(), "SELECT 1/0").ok());
  EXPECT_THAT(client_->EnqueueInTx({.type = "T"}, caller.get()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("transaction has failed")));
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "ROLLBACK").status());
  EXPECT_EQ(CountJobs(), 0);
  // Inside BEGIN all of them work.
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "BEGIN").status());
  QG_ASSERT_OK(client_->EnqueueInTx({.type = "T"}, caller.get()).status());
  QG_ASSERT_OK(client_->EnqueueMany({{.type = "T"}}, &exec).status());
  QG_ASSERT_OK(client_->EnqueueStream(one_job, caller.get()).status());
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "COMMIT").status());
  EXPECT_EQ(CountJobs(), 3);
}

// Issue 23, item 7: an exception thrown by EnqueueStream's job source is
// returned as a status naming the job; nothing is stored and the client's
// connection goes back to its pool usable.
TEST_F(ClientTest, JobSourceExceptionIsAStatusAndStoresNothing) {
  auto throwing = [](int at, bool std_exception) {
    return [at, std_exception, i = 0](NewJob& job) mutable -> bool {
      if (++i == at) {
        if (std_exception) throw std::runtime_error("source broke");
        throw 42;
      }
      job.type = "Streamed";
      return true;
    };
  };
  EXPECT_THAT(client_->EnqueueStream(throwing(5000, true)),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("job #5000"), HasSubstr("source broke"),
                             HasSubstr("nothing"))));
  EXPECT_THAT(client_->EnqueueStream(throwing(3, false)),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("not derived from std::exception")));
  EXPECT_EQ(CountJobs(), 0);
  // Every pooled connection is still usable (the pool has 4).
  for (int i = 0; i < 8; ++i) {
    QG_ASSERT_OK(client_
                     ->EnqueueStream([n = 0](NewJob& job) mutable {
                       job.type = "After";
                       return ++n <= 2;
                     })
                     .status());
  }
  EXPECT_EQ(CountJobs("job_class = 'After'"), 16);
  // On the caller's connection: the COPY is aborted, so, as after an invalid
  // job, the caller's transaction has failed and is rolled back.
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr caller, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "BEGIN").status());
  EXPECT_THAT(client_->EnqueueStream(throwing(7, true), caller.get()),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("job #7")));
  EXPECT_EQ(PQtransactionStatus(caller.get()), PQTRANS_INERROR);
  QG_ASSERT_OK(qg::ExecSimple(caller.get(), "ROLLBACK").status());
  EXPECT_EQ(CountJobs("job_class = 'Streamed'"), 0);
}

// Issue 23, item 7 (a documented choice, pinned here): synchronous mode runs
// the jobs of the single-job calls; EnqueueMany and EnqueueStream store
// theirs for workers and run none.
TEST_F(ClientTest, SynchronousModeRunsSingleEnqueuesOnly) {
  int runs = 0;
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> client,
                          NewClient({.synchronous = [&](Job& job) {
                            ++runs;
                            return job.Delete();
                          }}));
  QG_ASSERT_OK(
      client->EnqueueMany({{.type = "Bulk"}, {.type = "Bulk"}}).status());
  QG_ASSERT_OK(client
                   ->EnqueueStream([i = 0](NewJob& job) mutable {
                     job.type = "Streamed";
                     return ++i <= 1;
                   })
                   .status());
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(CountJobs(), 3);
  QG_ASSERT_OK(client->Enqueue({.type = "Single"}).status());
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr caller, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PgTx> tx, PgTx::Begin(caller.get()));
  QG_ASSERT_OK(client->EnqueueInTx({.type = "Single"}, *tx).status());
  QG_ASSERT_OK(tx->Commit());
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(CountJobs("job_class = 'Single'"), 0);
}

// Client::Create against bad conninfo, no server and a database without
// que_jobs.
class ClientCreateTest : public qg_testing::DatabaseTest {};

TEST_F(ClientCreateTest, BadConninfoIsInvalidArgument) {
  EXPECT_THAT(Client::Create({.conninfo = "host=x bogus_key=1"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid conninfo")));
}

TEST_F(ClientCreateTest, UnreachableServerIsUnavailableAndHidesPassword) {
  absl::StatusOr<std::unique_ptr<Client>> c = Client::Create(
      {.conninfo = "host=@qg-no-such-server port=5432 user=u "
                   "password=sekrit dbname=x connect_timeout=2"});
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(c.status().message()),
              ::testing::Not(HasSubstr("sekrit")));
}

TEST_F(ClientCreateTest, MissingSchemaIsFailedPreconditionWithHowTo) {
  EXPECT_THAT(
      Client::Create({.conninfo = EmptyDatabase("qg_empty")}),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("qg migrate")));
}

}  // namespace
}  // namespace qg
