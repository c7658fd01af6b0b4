// qg-cpp through a real PgBouncer (Debian's 1.18): in session mode
// everything works as on a direct connection; in transaction mode the
// enqueue paths and admin work (no statement prepared on one server session
// is used on another), and worker pools, which need a session of their own,
// refuse to start instead of running jobs twice.
#include "qg/testing/pgbouncer.h"

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/admin.h"
#include "qg/client.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/executor.h"
#include "qg/internal/pooler.h"
#include "qg/internal/sync.h"
#include "qg/pg.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/subprocess.h"
#include "qg/testing/worker_modes.h"
#include "qg/worker/worker.h"

namespace {

using ::qg_testing::PgBouncer;
using ::qg_testing::QueryValue;
using ::testing::HasSubstr;

qg::EmbeddedPostgres& Server() {
  static qg::EmbeddedPostgres* server = [] {
    auto s = qg::EmbeddedPostgres::Start({.socket_file = true});
    CHECK(s.ok()) << s.status();
    return s->release();
  }();
  return *server;
}

class PgBouncerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    QG_ASSERT_OK_AND_ASSIGN(db_, Server().CreateDatabase());
    QG_ASSERT_OK_AND_ASSIGN(direct_, qg::Connect(Server().ConninfoFor(db_)));
  }

  // PgBouncer in `mode`, with few server sessions so that clients share
  // them.
  std::unique_ptr<PgBouncer> Bouncer(const std::string& mode) {
    auto b = PgBouncer::Start(Server(), {.pool_mode = mode, .pool_size = 2});
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? std::move(*b) : nullptr;
  }

  int64_t Count(const std::string& sql) {
    return std::stoll(QueryValue(direct_.get(), sql));
  }

  std::string db_;
  qg::PgConnPtr direct_;
};

TEST_F(PgBouncerTest, DirectConnectionIsNotTransactionPooled) {
  QG_ASSERT_OK_AND_ASSIGN(
      auto client, qg::Client::Create({.conninfo = Server().ConninfoFor(db_)}));
  EXPECT_FALSE(client->transaction_pooled());
}

TEST_F(PgBouncerTest, TransactionModeEnqueuePathsAndAdminWork) {
  auto bouncer = Bouncer("transaction");
  ASSERT_NE(bouncer, nullptr);
  const std::string via = bouncer->ConninfoFor(db_);
  QG_ASSERT_OK_AND_ASSIGN(
      auto client, qg::Client::Create({.conninfo = via, .max_conns = 6}));
  EXPECT_TRUE(client->transaction_pooled());

  // Six threads share two server sessions: a statement prepared on one
  // session and run on another would fail here.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        auto id = client->Enqueue(
            {.type = "Plain", .args = absl::StrCat("[", t, ",", i, "]")});
        if (!id.ok()) {
          ++failures;
          ADD_FAILURE() << id.status();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM que_jobs WHERE job_class='Plain'"),
            240);

  // The caller's transaction through the pooler: commits and rolls back.
  QG_ASSERT_OK_AND_ASSIGN(qg::PgConnPtr conn, qg::Connect(via));
  for (bool commit : {true, false}) {
    QG_ASSERT_OK_AND_ASSIGN(auto tx, qg::PgTx::Begin(conn.get()));
    QG_ASSERT_OK(
        client->EnqueueInTx({.type = commit ? "InTx" : "RolledBack"}, *tx));
    QG_ASSERT_OK(client->EnqueueMany(
        {{.type = commit ? "InTx" : "RolledBack"}, {.type = "Other"}},
        tx.get()));
    QG_ASSERT_OK(
        client->EnqueueMany({{.type = commit ? "InTx" : "RolledBack"}}));
    if (commit) {
      QG_ASSERT_OK(tx->Commit());
    } else {
      QG_ASSERT_OK(tx->Rollback());
    }
  }
  EXPECT_EQ(Count("SELECT count(*) FROM que_jobs WHERE job_class='InTx'"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM que_jobs WHERE job_class='RolledBack'"),
            1);

  // COPY, unique jobs, a workflow and a batch.
  int n = 0;
  QG_ASSERT_OK_AND_ASSIGN(int64_t streamed,
                          client->EnqueueStream([&](qg::NewJob& job) {
                            if (n == 500) return false;
                            job.type = "Streamed";
                            job.args = absl::StrCat("[", n++, "]");
                            return true;
                          }));
  EXPECT_EQ(streamed, 500);
  EXPECT_EQ(Count("SELECT count(*) FROM que_jobs WHERE job_class='Streamed'"),
            500);
  qg::NewJob unique{.type = "Unique", .unique = qg::UniqueOpts{.key = "k"}};
  QG_ASSERT_OK_AND_ASSIGN(auto first, client->EnqueueDetailed(unique));
  QG_ASSERT_OK_AND_ASSIGN(auto again, client->EnqueueDetailed(unique));
  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.id, first.id);
  qg::Workflow workflow;
  auto parent = workflow.Add({.type = "Parent"});
  workflow.Add({.type = "Child"}, {parent});
  QG_ASSERT_OK_AND_ASSIGN(auto ids, client->EnqueueWorkflow(workflow));
  EXPECT_EQ(ids.size(), 2u);
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client->CreateBatch({}));
  QG_ASSERT_OK(client->Enqueue({.type = "InBatch", .batch_id = batch}));
  QG_ASSERT_OK(client->SealBatch(batch));

  // Admin through the pooler.
  QG_ASSERT_OK_AND_ASSIGN(auto admin, qg::Admin::Connect({.conninfo = via}));
  QG_ASSERT_OK_AND_ASSIGN(auto stats, admin->Stats());
  QG_ASSERT_OK_AND_ASSIGN(auto page, admin->ListJobs({}, {.limit = 10}));
  EXPECT_FALSE(page.jobs.empty());
  QG_ASSERT_OK(admin->PauseQueue("q"));
  QG_ASSERT_OK_AND_ASSIGN(auto paused, admin->PausedQueues());
  EXPECT_THAT(paused, ::testing::ElementsAre("q"));
  QG_ASSERT_OK(admin->ResumeQueue("q"));
  QG_ASSERT_OK(admin->DeleteJob(first.id));
  EXPECT_EQ(Count("SELECT count(*) FROM que_jobs WHERE job_class='Unique'"), 0);
}

// The probe neither hangs nor errs where server sessions are scarce, and
// sees through round-robin reuse.
TEST_F(PgBouncerTest, DetectionCopesWithFewSessionsAndRoundRobin) {
  struct Case {
    std::string mode;
    int pool_size;
    std::string extra;
    bool transaction_pooled;
  };
  for (const Case& c :
       std::vector<Case>{{"transaction", 1, "", true},
                         {"transaction", 3, "server_round_robin = 1", true},
                         {"statement", 2, "", true},
                         // One session, which the probe's first connection
                         // holds: the second waits in vain, and the probe
                         // cannot tell; it answers what is safe either way.
                         {"session", 1, "", true},
                         {"session", 3, "server_round_robin = 1", false}}) {
    auto b = PgBouncer::Start(Server(), {.pool_mode = c.mode,
                                         .pool_size = c.pool_size,
                                         .extra_settings = c.extra});
    ASSERT_TRUE(b.ok()) << b.status();
    absl::Time start = absl::Now();
    QG_ASSERT_OK_AND_ASSIGN(
        auto client, qg::Client::Create({.conninfo = (*b)->ConninfoFor(db_)}));
    EXPECT_EQ(client->transaction_pooled(), c.transaction_pooled)
        << c.mode << " " << c.pool_size << " " << c.extra;
    EXPECT_LT(absl::Now() - start, absl::Seconds(15)) << c.mode;
    QG_EXPECT_OK(client->Enqueue({.type = "Probe"}).status()) << c.mode;
  }
}

// A transaction pooler kept busy by other clients answers the probe late:
// that must never pass for a session pooler (nor fail the client).
TEST_F(PgBouncerTest, ABusyTransactionPoolerIsNeverTakenForASessionOne) {
  auto b =
      PgBouncer::Start(Server(), {.pool_mode = "transaction", .pool_size = 1});
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string via = (*b)->ConninfoFor(db_);
  QG_ASSERT_OK_AND_ASSIGN(qg::PgConnPtr probe, qg::Connect(via));
  // Another client takes the one server session for 4 s.
  std::thread busy([&] {
    auto conn = qg::Connect(via);
    if (conn.ok()) {
      qg::ExecSimple(conn->get(), "SELECT pg_sleep(4)").IgnoreError();
    }
  });
  absl::SleepFor(absl::Milliseconds(300));
  absl::Time start = absl::Now();
  absl::StatusOr<bool> pooled =
      qg::internal::BehindTransactionPooler(probe.get(), via);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3.5));
  busy.join();
  QG_ASSERT_OK(pooled.status());
  EXPECT_TRUE(*pooled);
}

// PgBouncer told to drop the `options` startup parameter passes the
// connection on without qg-cpp's session settings: the client sees what
// the server reports and SETs what differs, so rows still parse.
TEST_F(PgBouncerTest, DroppedStartupOptionsAreMadeUpFor) {
  for (const char* sql : {"ALTER DATABASE %s SET DateStyle = 'SQL, DMY'",
                          "ALTER DATABASE %s SET TimeZone = 'Asia/Kolkata'",
                          "ALTER DATABASE %s SET IntervalStyle = 'iso_8601'"}) {
    std::string q = sql;
    q.replace(q.find("%s"), 2, db_);
    QG_ASSERT_OK(qg::ExecSimple(direct_.get(), q).status());
  }
  for (const char* mode : {"transaction", "session"}) {
    auto b = PgBouncer::Start(
        Server(),
        {.pool_mode = mode,
         .pool_size = 10,
         .extra_settings =
             "ignore_startup_parameters = extra_float_digits, options"});
    ASSERT_TRUE(b.ok()) << b.status();
    const std::string via = (*b)->ConninfoFor(db_);
    QG_ASSERT_OK_AND_ASSIGN(qg::PgConnPtr conn, qg::Connect(via));
    EXPECT_EQ(QueryValue(conn.get(), "SHOW DateStyle"), "ISO, YMD") << mode;
    EXPECT_EQ(QueryValue(conn.get(), "SHOW TimeZone"), "UTC") << mode;
    QG_ASSERT_OK_AND_ASSIGN(auto client, qg::Client::Create({.conninfo = via}));
    QG_ASSERT_OK_AND_ASSIGN(int64_t id, client->Enqueue({.type = "Dated"}));
    QG_ASSERT_OK_AND_ASSIGN(auto admin, qg::Admin::Connect({.conninfo = via}));
    QG_ASSERT_OK_AND_ASSIGN(auto page, admin->ListJobs({}, {}));
    ASSERT_EQ(page.jobs.size(), 1u) << mode;
    EXPECT_EQ(page.jobs[0].id, id);
    QG_ASSERT_OK(admin->DeleteJob(id));
  }
}

TEST_F(PgBouncerTest, PreparedStatementsWouldBreakThroughATransactionPooler) {
  // What the detection prevents: told it has a session, the client
  // prepares its statements on one server session and fails on another.
  auto bouncer = Bouncer("transaction");
  ASSERT_NE(bouncer, nullptr);
  QG_ASSERT_OK_AND_ASSIGN(
      auto client,
      qg::Client::Create({.conninfo = bouncer->ConninfoFor(db_),
                          .max_conns = 4,
                          .pooling = qg::ConnectionPooling::kSession}));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 30; ++i) {
        if (!client->Enqueue({.type = "Plain"}).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(failures, 0);
}

class PgBouncerWorkerTest
    : public PgBouncerTest,
      public ::testing::WithParamInterface<qg::WorkerMode> {};

TEST_P(PgBouncerWorkerTest, TransactionModeRefusesWorkerPools) {
  auto bouncer = Bouncer("transaction");
  ASSERT_NE(bouncer, nullptr);
  QG_ASSERT_OK_AND_ASSIGN(
      auto client, qg::Client::Create({.conninfo = bouncer->ConninfoFor(db_)}));
  QG_ASSERT_OK(client->Enqueue({.type = "Job"}));
  qg::WorkMap work_map;
  std::atomic<int> runs{0};
  work_map.Register("Job", [&](qg::Job&) {
    ++runs;
    return absl::OkStatus();
  });
  qg::WorkerPool pool(client.get(), &work_map, 2, {.mode = GetParam()});
  absl::Status s = pool.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("transaction-mode pooler"));
  EXPECT_THAT(s.message(), HasSubstr("direct conninfo"));
  auto locked = client->LockJob("");
  EXPECT_EQ(locked.status().code(), absl::StatusCode::kFailedPrecondition);
  pool.Shutdown();
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM que_jobs"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_locks WHERE locktype='advisory'"),
            0);
  // Synchronous mode needs a session as well.
  auto sync = qg::Client::Create(
      {.conninfo = bouncer->ConninfoFor(db_),
       .synchronous = [](qg::Job&) { return absl::OkStatus(); }});
  EXPECT_EQ(sync.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(PgBouncerWorkerTest, SessionModeRunsEveryJobOnce) {
  auto bouncer = Bouncer("session");
  ASSERT_NE(bouncer, nullptr);
  // Session mode lends each client connection a server session for its
  // whole life: enough of them for the pool's sessions.
  bouncer.reset();
  auto b =
      PgBouncer::Start(Server(), {.pool_mode = "session", .pool_size = 30});
  ASSERT_TRUE(b.ok()) << b.status();
  bouncer = std::move(*b);
  const std::string via = bouncer->ConninfoFor(db_);
  QG_ASSERT_OK_AND_ASSIGN(
      auto client, qg::Client::Create({.conninfo = via, .max_conns = 8}));
  EXPECT_FALSE(client->transaction_pooled());
  std::vector<qg::NewJob> jobs;
  for (int i = 0; i < 400; ++i) {
    jobs.push_back({.type = "Job", .args = absl::StrCat("[", i, "]")});
  }
  QG_ASSERT_OK(client->EnqueueMany(jobs));
  qg::internal::Mutex mu;
  std::multiset<int64_t> seen;
  qg::WorkMap work_map;
  work_map.Register("Job", [&](qg::Job& job) {
    qg::internal::MutexLock lock(mu);
    seen.insert(job.id());
    return absl::OkStatus();
  });
  qg::WorkerPool pool(client.get(), &work_map, 4,
                      {.interval = absl::Milliseconds(20), .mode = GetParam()});
  QG_ASSERT_OK(pool.Start());
  EXPECT_TRUE(qg_testing::WaitFor(
      [&] { return Count("SELECT count(*) FROM que_jobs") == 0; }));
  pool.Shutdown();
  qg::internal::MutexLock lock(mu);
  EXPECT_EQ(seen.size(), 400u);
  std::set<int64_t> distinct(seen.begin(), seen.end());
  EXPECT_EQ(distinct.size(), 400u) << "a job ran twice";
}

INSTANTIATE_TEST_SUITE_P(Modes, PgBouncerWorkerTest,
                         qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

// The `qg` command line's read and admin commands through the pooler.
TEST_F(PgBouncerTest, QgCommandsWorkThroughATransactionPooler) {
  auto bouncer = Bouncer("transaction");
  ASSERT_NE(bouncer, nullptr);
  std::string id = QueryValue(
      direct_.get(),
      "INSERT INTO que_jobs (job_class) VALUES ('Cli') RETURNING job_id");
  for (std::vector<std::string> args : {std::vector<std::string>{"stats"},
                                        {"jobs"},
                                        {"pause", "q"},
                                        {"retry", id},
                                        {"delete", id}}) {
    std::string out = qg_testing::TempPath("qg-out");
    std::vector<std::string> argv = {qg_testing::RunfilePath("tools/qg")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--db=" + bouncer->ConninfoFor(db_));
    pid_t pid = qg_testing::Spawn(
        {.argv = argv, .stdout_path = out, .stderr_path = out});
    EXPECT_EQ(qg_testing::Wait(pid), 0)
        << args[0] << ": " << qg_testing::ReadFile(out);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM que_jobs WHERE job_class='Cli'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM qg_queues WHERE paused"), 1);
}

}  // namespace
