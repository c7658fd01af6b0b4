// Unique jobs (NewJob::unique) against a real PostgreSQL: one row per key
// under concurrency, inside callers' transactions and batches; keys held by
// errored and dead jobs, freed by finished ones; Que-style inserts and
// databases without qg-cpp's additions keep working.
#include <atomic>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/fake_clock.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"
#include "schema/schema.h"

namespace qg {
namespace {

using ::qg_testing::IsOk;
using ::qg_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class UniqueJobsTest : public qg_testing::DatabaseTest {
 protected:
  UniqueJobsTest() : DatabaseTest(ClientDefaults()) {}

  static ClientOptions ClientDefaults() {
    return {.max_conns = 10, .acquire_timeout = absl::Seconds(10)};
  }
  // A client as `client_` is, with `options`' other fields.
  std::unique_ptr<Client> NewClient(ClientOptions options = {}) {
    options.max_conns = ClientDefaults().max_conns;
    options.acquire_timeout = ClientDefaults().acquire_timeout;
    absl::StatusOr<std::unique_ptr<Client>> client =
        DatabaseTest::NewClient(options);
    QG_EXPECT_OK(client.status());
    return client.ok() ? std::move(*client) : nullptr;
  }

  EnqueueResult MustEnqueue(const NewJob& job) {
    absl::StatusOr<EnqueueResult> r = client_->EnqueueDetailed(job);
    QG_EXPECT_OK(r.status());
    return r.value_or(EnqueueResult{-1, false});
  }
  // Finishes the one ready job as a worker would: Delete() or Error().
  void WorkOne(bool succeed, Client* client = nullptr) {
    if (client == nullptr) client = client_.get();
    QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Job> job, client->LockJob(""));
    ASSERT_NE(job, nullptr);
    QG_ASSERT_OK(succeed ? job->Delete() : job->Error("boom"));
    job->Done();
  }

  static NewJob Unique(std::string type, UniqueOpts opts = {}) {
    NewJob job;
    job.type = std::move(type);
    job.unique = std::move(opts);
    return job;
  }
};

TEST_F(UniqueJobsTest, SecondEnqueueReturnsTheStoredJobAsDuplicate) {
  EnqueueResult first = MustEnqueue(Unique("Report"));
  EXPECT_FALSE(first.duplicate);
  EnqueueResult second = MustEnqueue(Unique("Report"));
  EXPECT_EQ(second, (EnqueueResult{first.id, true}));
  QG_ASSERT_OK_AND_ASSIGN(int64_t id, client_->Enqueue(Unique("Report")));
  EXPECT_EQ(id, first.id);
  EXPECT_EQ(CountJobs(), 1);
  // The stored key is what UniqueKey() says, so admin tools can find it.
  QG_ASSERT_OK_AND_ASSIGN(std::optional<std::string> key,
                          UniqueKey(Unique("Report"), absl::Now()));
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(Query("SELECT qg_unique_key FROM que_jobs"), *key);
  // A job that is not unique is stored whatever unique jobs exist.
  EXPECT_FALSE(MustEnqueue({.type = "Report"}).duplicate);
  EXPECT_EQ(CountJobs(), 2);
}

TEST_F(UniqueJobsTest, EightConcurrentEnqueuersStoreOneRow) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 5; ++round) {
    NewJob job = Unique("Concurrent", {.key = absl::StrCat("round-", round)});
    std::vector<EnqueueResult> results(kThreads);
    std::vector<absl::Status> errors(kThreads);
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        absl::StatusOr<EnqueueResult> r = client_->EnqueueDetailed(job);
        errors[i] = r.status();
        if (r.ok()) results[i] = *r;
      });
    }
    for (auto& t : threads) t.join();
    int duplicates = 0;
    for (int i = 0; i < kThreads; ++i) {
      QG_ASSERT_OK(errors[i]);
      duplicates += results[i].duplicate;
      EXPECT_EQ(results[i].id, results[0].id) << "thread " << i;
    }
    EXPECT_EQ(duplicates, kThreads - 1) << "round " << round;
    EXPECT_EQ(CountJobs(absl::StrCat("qg_unique_key = 'round-", round, "'")),
              1);
  }
  EXPECT_EQ(CountJobs(), 5);
}

TEST_F(UniqueJobsTest, RolledBackTransactionFreesTheKey) {
  QG_ASSERT_OK_AND_ASSIGN(auto tx_conn, qg::Connect(db_->conninfo()));
  {
    QG_ASSERT_OK_AND_ASSIGN(auto tx, PgTx::Begin(tx_conn.get()));
    QG_ASSERT_OK_AND_ASSIGN(EnqueueResult first,
                            client_->EnqueueInTxDetailed(Unique("Tx"), *tx));
    EXPECT_FALSE(first.duplicate);
    // Inside the same transaction the job holds its key already.
    QG_ASSERT_OK_AND_ASSIGN(EnqueueResult again,
                            client_->EnqueueInTxDetailed(Unique("Tx"), *tx));
    EXPECT_EQ(again, (EnqueueResult{first.id, true}));
    QG_ASSERT_OK(tx->Rollback());
  }
  EXPECT_EQ(CountJobs(), 0);
  EnqueueResult after = MustEnqueue(Unique("Tx"));
  EXPECT_FALSE(after.duplicate);
  EXPECT_EQ(CountJobs(), 1);
}

TEST_F(UniqueJobsTest, ConcurrentEnqueueWaitsForTheCallersTransaction) {
  QG_ASSERT_OK_AND_ASSIGN(auto tx_conn, qg::Connect(db_->conninfo()));
  for (bool commit : {true, false}) {
    QG_ASSERT_OK(qg::Exec(conn_.get(), "DELETE FROM que_jobs").status());
    QG_ASSERT_OK_AND_ASSIGN(auto tx, PgTx::Begin(tx_conn.get()));
    QG_ASSERT_OK_AND_ASSIGN(EnqueueResult mine,
                            client_->EnqueueInTxDetailed(Unique("Wait"), *tx));
    std::atomic<bool> done{false};
    absl::StatusOr<EnqueueResult> theirs;
    std::thread other([&] {
      theirs = client_->EnqueueDetailed(Unique("Wait"));
      done = true;
    });
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_FALSE(done) << "the unique index makes the second enqueue wait";
    QG_ASSERT_OK(commit ? tx->Commit() : tx->Rollback());
    other.join();
    QG_ASSERT_OK(theirs.status());
    if (commit) {
      EXPECT_EQ(*theirs, (EnqueueResult{mine.id, true}));
    } else {
      EXPECT_FALSE(theirs->duplicate);
      EXPECT_NE(theirs->id, mine.id);
    }
    EXPECT_EQ(CountJobs(), 1);
  }
}

TEST_F(UniqueJobsTest, RepeatableReadSeesALaterHolderAsAborted) {
  QG_ASSERT_OK_AND_ASSIGN(auto tx_conn, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK(qg::ExecSimple(tx_conn.get(),
                              "BEGIN ISOLATION LEVEL REPEATABLE READ; "
                              "SELECT count(*) FROM que_jobs")
                   .status());                       // the snapshot is taken
  EnqueueResult holder = MustEnqueue(Unique("RR"));  // commits after it
  absl::StatusOr<EnqueueResult> r =
      client_->EnqueueInTxDetailed(Unique("RR"), tx_conn.get());
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kAborted)) << "retry the tx";
  QG_ASSERT_OK(qg::ExecSimple(tx_conn.get(), "ROLLBACK").status());
  // Retried in a new transaction, it sees the holder.
  QG_ASSERT_OK(
      qg::ExecSimple(tx_conn.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ")
          .status());
  QG_ASSERT_OK_AND_ASSIGN(
      EnqueueResult again,
      client_->EnqueueInTxDetailed(Unique("RR"), tx_conn.get()));
  EXPECT_EQ(again, (EnqueueResult{holder.id, true}));
  QG_ASSERT_OK(qg::ExecSimple(tx_conn.get(), "COMMIT").status());
}

TEST_F(UniqueJobsTest, HolderFinishingDuringTheEnqueueFreesTheKey) {
  EnqueueResult holder = MustEnqueue(Unique("Race"));
  // A worker deletes the holder in a transaction that has not committed yet;
  // the enqueue waits for it, and then the key is free.
  QG_ASSERT_OK_AND_ASSIGN(auto worker_conn, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(auto tx, PgTx::Begin(worker_conn.get()));
  QG_ASSERT_OK(tx->Query("DELETE FROM que_jobs WHERE job_id = $1",
                         {absl::StrCat(holder.id)})
                   .status());
  absl::StatusOr<EnqueueResult> next;
  std::thread enqueuer(
      [&] { next = client_->EnqueueDetailed(Unique("Race")); });
  absl::SleepFor(absl::Milliseconds(200));
  QG_ASSERT_OK(tx->Commit());
  enqueuer.join();
  QG_ASSERT_OK(next.status());
  EXPECT_FALSE(next->duplicate);
  EXPECT_NE(next->id, holder.id);
  EXPECT_EQ(CountJobs(), 1);
}

TEST_F(UniqueJobsTest, EnqueueManyReportsDuplicatesInOrder) {
  EnqueueResult stored = MustEnqueue(Unique("Batch", {.key = "k1"}));
  std::vector<NewJob> jobs = {
      Unique("Batch", {.key = "k1"}),  // held by a stored job
      Unique("Batch", {.key = "k2"}),  // new
      Unique("Batch", {.key = "k2"}),  // held by the job before it
      {.type = "Plain"},               // not unique
      Unique("Batch", {.key = "k3"}),  // new
      {.type = "Plain"},               // not unique
  };
  QG_ASSERT_OK_AND_ASSIGN(std::vector<EnqueueResult> r,
                          client_->EnqueueManyDetailed(jobs));
  ASSERT_EQ(r.size(), jobs.size());
  EXPECT_EQ(r[0], (EnqueueResult{stored.id, true}));
  EXPECT_FALSE(r[1].duplicate);
  EXPECT_EQ(r[2], (EnqueueResult{r[1].id, true}));
  EXPECT_FALSE(r[3].duplicate);
  EXPECT_FALSE(r[4].duplicate);
  EXPECT_FALSE(r[5].duplicate);
  // Ids stored in input order, as a batch of plain jobs gets them.
  EXPECT_LT(r[1].id, r[3].id);
  EXPECT_LT(r[3].id, r[4].id);
  EXPECT_LT(r[4].id, r[5].id);
  EXPECT_EQ(CountJobs(), 5);
  EXPECT_EQ(Query("SELECT string_agg(coalesce(qg_unique_key, '-'), ',' "
                  "ORDER BY job_id) FROM que_jobs"),
            "k1,k2,-,k3,-");
  // EnqueueMany returns the same ids; a second run stores nothing unique.
  QG_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids, client_->EnqueueMany(jobs));
  EXPECT_EQ(ids[0], stored.id);
  EXPECT_EQ(ids[1], r[1].id);
  EXPECT_EQ(ids[2], r[1].id);
  EXPECT_EQ(ids[4], r[4].id);
  EXPECT_EQ(CountJobs(), 7);  // the two plain jobs again
}

TEST_F(UniqueJobsTest, EnqueueManyInCallersTransactionCommitsOrRollsBack) {
  QG_ASSERT_OK_AND_ASSIGN(auto tx_conn, qg::Connect(db_->conninfo()));
  std::vector<NewJob> jobs = {Unique("InTx", {.key = "a"}),
                              Unique("InTx", {.key = "a"})};
  {
    QG_ASSERT_OK_AND_ASSIGN(auto tx, PgTx::Begin(tx_conn.get()));
    QG_ASSERT_OK_AND_ASSIGN(auto r,
                            client_->EnqueueManyDetailed(jobs, tx.get()));
    EXPECT_TRUE(r[1].duplicate);
    QG_ASSERT_OK(tx->Rollback());
  }
  EXPECT_EQ(CountJobs(), 0);
  QG_ASSERT_OK_AND_ASSIGN(auto tx, PgTx::Begin(tx_conn.get()));
  QG_ASSERT_OK_AND_ASSIGN(auto r, client_->EnqueueManyDetailed(jobs, tx.get()));
  EXPECT_FALSE(r[0].duplicate);
  EXPECT_EQ(r[1], (EnqueueResult{r[0].id, true}));
  QG_ASSERT_OK(tx->Commit());
  EXPECT_EQ(CountJobs(), 1);
}

TEST_F(UniqueJobsTest, LargeBatchWithUniqueJobsKeepsOrderAcrossChunks) {
  std::vector<NewJob> jobs;
  for (int i = 0; i < 2500; ++i) {
    jobs.push_back(Unique("Big", {.key = absl::StrCat("k", i % 1200)}));
  }
  QG_ASSERT_OK_AND_ASSIGN(auto r, client_->EnqueueManyDetailed(jobs));
  ASSERT_EQ(r.size(), jobs.size());
  for (int i = 0; i < 2500; ++i) {
    EXPECT_EQ(r[i].duplicate, i >= 1200) << i;
    EXPECT_EQ(r[i].id, r[i % 1200].id) << i;
  }
  EXPECT_EQ(CountJobs(), 1200);
}

TEST_F(UniqueJobsTest, ByPeriodAllowsOneJobPerPeriod) {
  qg_testing::FakeClock clock(absl::FromUnixSeconds(1767225600));  // 00:00Z
  ClientOptions options;
  options.clock = &clock;
  std::unique_ptr<Client> client = NewClient(options);
  NewJob hourly = Unique("Hourly", {.by_period = absl::Hours(1)});
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult a, client->EnqueueDetailed(hourly));
  clock.Advance(absl::Minutes(59));
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult b, client->EnqueueDetailed(hourly));
  EXPECT_EQ(b, (EnqueueResult{a.id, true}));
  clock.Advance(absl::Minutes(1));  // 01:00Z: the next period
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult c, client->EnqueueDetailed(hourly));
  EXPECT_FALSE(c.duplicate);
  // With a run_at, the period is the run_at's.
  NewJob later = hourly;
  later.run_at = clock.Now() + absl::Hours(5);
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult d, client->EnqueueDetailed(later));
  EXPECT_FALSE(d.duplicate);
  later.run_at = *later.run_at + absl::Minutes(10);
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult e, client->EnqueueDetailed(later));
  EXPECT_EQ(e, (EnqueueResult{d.id, true}));
  EXPECT_EQ(CountJobs(), 3);
}

TEST_F(UniqueJobsTest, ByQueueAndByArgsNarrowTheKey) {
  // By type alone, the queue and the args do not matter.
  NewJob a = Unique("Mail");
  a.queue = "q1";
  a.args = R"({"to":"ada","n":1})";
  NewJob b = a;
  b.queue = "q2";
  b.args = R"([2])";
  EXPECT_FALSE(MustEnqueue(a).duplicate);
  EXPECT_TRUE(MustEnqueue(b).duplicate);

  a.unique = UniqueOpts{.by_queue = true};
  b.unique = UniqueOpts{.by_queue = true};
  EXPECT_FALSE(MustEnqueue(a).duplicate);
  EXPECT_FALSE(MustEnqueue(b).duplicate);

  a.unique = UniqueOpts{.by_args = true};
  NewJob same_args = a;
  same_args.args = R"( { "n" : 1, "to" : "ada" } )";  // spacing and order
  NewJob other_args = a;
  other_args.args = R"({"to":"bob","n":1})";
  EXPECT_FALSE(MustEnqueue(a).duplicate);
  EXPECT_TRUE(MustEnqueue(same_args).duplicate);
  EXPECT_FALSE(MustEnqueue(other_args).duplicate);
  EXPECT_EQ(CountJobs(), 5);
}

TEST_F(UniqueJobsTest, FinishedJobFreesItsKey) {
  EnqueueResult first = MustEnqueue(Unique("Once"));
  WorkOne(/*succeed=*/true);
  EXPECT_EQ(CountJobs(), 0);
  EnqueueResult second = MustEnqueue(Unique("Once"));
  EXPECT_FALSE(second.duplicate);
  EXPECT_NE(second.id, first.id);
}

TEST_F(UniqueJobsTest, ErroredAndDeadJobsKeepTheirKey) {
  ClientOptions options;
  options.max_attempts = 2;
  std::unique_ptr<Client> client = NewClient(options);
  EnqueueResult first = MustEnqueue(Unique("Flaky"));
  QG_ASSERT_OK(
      qg::Exec(conn_.get(), "UPDATE que_jobs SET run_at = now()").status());
  WorkOne(/*succeed=*/false, client.get());  // errored, retried later
  EXPECT_EQ(MustEnqueue(Unique("Flaky")), (EnqueueResult{first.id, true}));
  QG_ASSERT_OK(
      qg::Exec(conn_.get(), "UPDATE que_jobs SET run_at = now()").status());
  WorkOne(/*succeed=*/false, client.get());  // out of attempts: dead
  EXPECT_EQ(CountJobs("last_error LIKE 'qg: dead after%'"), 1);
  EXPECT_EQ(MustEnqueue(Unique("Flaky")), (EnqueueResult{first.id, true}));
  // Retrying the dead job keeps its key too.
  QG_ASSERT_OK(client_->RetryJob(first.id));
  EXPECT_EQ(MustEnqueue(Unique("Flaky")), (EnqueueResult{first.id, true}));
  EXPECT_EQ(CountJobs(), 1);
}

TEST_F(UniqueJobsTest, QueStylePlainInsertStillWorks) {
  // What Ruby Que 0.x and que-go send: Que's columns only.
  for (int i = 0; i < 2; ++i) {
    QG_ASSERT_OK(qg::Exec(conn_.get(),
                          "INSERT INTO que_jobs (queue, priority, run_at, "
                          "job_class, args) VALUES ('', 100, now(), "
                          "'RubyJob', '[1]') RETURNING *")
                     .status());
  }
  EXPECT_EQ(CountJobs("job_class = 'RubyJob' AND qg_unique_key IS NULL"), 2);
  // They are not unique jobs, so a unique one of the same type is stored.
  EXPECT_FALSE(MustEnqueue(Unique("RubyJob")).duplicate);
  WorkOne(/*succeed=*/true);
  WorkOne(/*succeed=*/true);
  WorkOne(/*succeed=*/true);
  EXPECT_EQ(CountJobs(), 0);
}

TEST_F(UniqueJobsTest, MigratedTableKeepsQueColumnsAndAddsOnlyNullables) {
  // Que 0.x's columns, types, nullability and defaults, in order.
  EXPECT_EQ(
      Query("SELECT string_agg(format('%s %s %s %s', column_name, data_type, "
            "is_nullable, coalesce(column_default, '-')), '; ' "
            "ORDER BY ordinal_position) FROM information_schema.columns "
            "WHERE table_name = 'que_jobs' AND column_name NOT LIKE 'qg%'"),
      "priority smallint NO 100; "
      "run_at timestamp with time zone NO now(); "
      "job_id bigint NO nextval('que_jobs_job_id_seq'::regclass); "
      "job_class text NO -; "
      "args json NO '[]'::json; "
      "error_count integer NO 0; "
      "last_error text YES -; "
      "queue text NO ''::text");
  // Additions: nullable; the enqueue time's default is now() (for rows
  // inserted after it: the rows that existed keep NULL).
  EXPECT_EQ(Query("SELECT string_agg(format('%s %s %s', column_name, "
                  "is_nullable, coalesce(column_default, '-')), '; ' "
                  "ORDER BY column_name) "
                  "FROM information_schema.columns "
                  "WHERE table_name = 'que_jobs' AND column_name LIKE 'qg%'"),
            "qg_batch_id YES -; qg_enqueued_at YES now(); "
            "qg_first_started_at YES -; qg_has_children YES -; "
            "qg_limit_key YES -; "
            "qg_parents_left YES -; qg_unique_key YES -");
  EXPECT_EQ(Query("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                  "WHERE conname = 'que_jobs_pkey'"),
            "PRIMARY KEY (queue, priority, run_at, job_id)");
  EXPECT_EQ(Query("SELECT obj_description('que_jobs'::regclass, 'pg_class')"),
            "3");
  // Migrating again changes nothing and fails on nothing.
  QG_ASSERT_OK(qg::ExecSimple(conn_.get(), schema::kQueJobsSql).status());
  QG_ASSERT_OK(qg::ExecSimple(conn_.get(), schema::kQgAdditionsSql).status());
  EXPECT_EQ(Query("SELECT count(*) FROM information_schema.columns "
                  "WHERE table_name = 'que_jobs'"),
            "15");
  EXPECT_EQ(Query("SELECT count(*) FROM pg_indexes "
                  "WHERE tablename = 'que_jobs'"),
            "2");
}

TEST_F(UniqueJobsTest, WithoutTheAdditionsUniqueJobsFailAndOthersWork) {
  QG_ASSERT_OK(qg::ExecSimple(conn_.get(),
                              "ALTER TABLE que_jobs DROP COLUMN "
                              "qg_unique_key; DROP TABLE qg_periodic")
                   .status());
  std::unique_ptr<Client> client = NewClient();  // Create accepts the table
  ASSERT_NE(client, nullptr);
  QG_ASSERT_OK(client->Enqueue({.type = "Plain"}).status());
  QG_ASSERT_OK(
      client->EnqueueMany({{.type = "Plain"}, {.type = "Plain"}}).status());
  EXPECT_THAT(client->Enqueue(Unique("U")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("run `qg migrate`")));
  EXPECT_THAT(client->EnqueueMany({{.type = "Plain"}, Unique("U")}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // In a caller's transaction the check does not break the transaction.
  QG_ASSERT_OK_AND_ASSIGN(auto tx_conn, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(auto tx, PgTx::Begin(tx_conn.get()));
  EXPECT_THAT(client->EnqueueInTx(Unique("U"), *tx),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  QG_ASSERT_OK(client->EnqueueInTx({.type = "Plain"}, *tx).status());
  QG_ASSERT_OK(tx->Commit());
  EXPECT_EQ(CountJobs(), 4);
}

// `qg migrate` adds a column while qg-cpp processes run: their prepared
// statements name their result columns, so PostgreSQL re-plans them rather
// than refusing them ("cached plan must not change result type").
TEST_F(UniqueJobsTest, ConnectionsPreparedBeforeTheMigrationKeepWorking) {
  QG_ASSERT_OK(qg::ExecSimple(conn_.get(),
                              "ALTER TABLE que_jobs DROP COLUMN "
                              "qg_unique_key")
                   .status());
  ClientOptions options;
  options.max_conns = 1;  // every call below reuses the one connection
  std::unique_ptr<Client> client = NewClient(options);
  ASSERT_NE(client, nullptr);
  auto work_one = [&] {
    QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Job> job, client->LockJob(""));
    ASSERT_NE(job, nullptr);
    QG_ASSERT_OK(job->Error("again"));
    job->Done();
    QG_ASSERT_OK(
        qg::Exec(conn_.get(), "UPDATE que_jobs SET run_at = now()").status());
    QG_ASSERT_OK_AND_ASSIGN(job, client->LockJob(""));
    ASSERT_NE(job, nullptr);
    QG_ASSERT_OK(job->Delete());
    job->Done();
  };
  QG_ASSERT_OK(client->Enqueue({.type = "Before"}).status());
  work_one();
  QG_ASSERT_OK(qg::ExecSimple(conn_.get(), schema::kQgAdditionsSql).status());
  QG_ASSERT_OK(client->Enqueue({.type = "After"}).status());
  work_one();
  EXPECT_FALSE(MustEnqueue(Unique("After")).duplicate);
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult again,
                          client->EnqueueDetailed(Unique("After")));
  EXPECT_TRUE(again.duplicate);
}

TEST_F(UniqueJobsTest, EnqueueStreamRefusesUniqueJobs) {
  int n = 0;
  absl::StatusOr<int64_t> stored = client_->EnqueueStream([&](NewJob& job) {
    if (n == 3) return false;
    job.type = "Streamed";
    if (n == 1) job.unique = UniqueOpts{};
    ++n;
    return true;
  });
  EXPECT_THAT(stored, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("EnqueueMany")));
  EXPECT_EQ(CountJobs(), 0);
}

TEST_F(UniqueJobsTest, InconsistentOptionsAreInvalidArgument) {
  EXPECT_THAT(
      client_->Enqueue(Unique("T", {.key = "k", .by_args = true})),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("explicit")));
  EXPECT_THAT(client_->Enqueue(Unique("T", {.key = std::string(1025, 'k')})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client_->Enqueue(Unique("T", {.by_period = absl::Seconds(-1)})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      client_->EnqueueMany({Unique("T", {.key = std::string("a\0b", 3)})}),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(CountJobs(), 0);
}

TEST_F(UniqueJobsTest, SynchronousModeRunsAUniqueJobOnlyWhenItIsStored) {
  std::atomic<int> runs{0};
  ClientOptions options;
  options.synchronous = [&](Job& /*job*/) {
    ++runs;
    return absl::InternalError("keep it");  // errored: the job stays
  };
  std::unique_ptr<Client> client = NewClient(options);
  absl::StatusOr<EnqueueResult> first = client->EnqueueDetailed(Unique("S"));
  EXPECT_THAT(first, StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(runs, 1);
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult second,
                          client->EnqueueDetailed(Unique("S")));
  EXPECT_TRUE(second.duplicate);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(CountJobs(), 1);
}

}  // namespace
}  // namespace qg
