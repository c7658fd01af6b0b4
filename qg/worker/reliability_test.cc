// What happens when things break, in both worker modes: shutdown with a
// grace period, job timeouts, attempts running out, a server restart, a
// terminated backend, bad input, and a worker role with minimal grants.
#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/conninfo.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"
#include "qg/testing/worker_modes.h"
#include "qg/worker/worker.h"

namespace qg {
namespace {

using ::qg_testing::WaitFor;

using ::qg_testing::IsOk;
using ::qg_testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class ReliabilityTest : public qg_testing::DatabaseTest,
                        public ::testing::WithParamInterface<WorkerMode> {
 protected:
  ReliabilityTest() : DatabaseTest(ClientDefaults()) {}

  // More connections, a shorter acquire timeout, retries 1 ms apart and
  // `max_attempts` (0: no limit).
  static ClientOptions ClientDefaults(int max_attempts = 0) {
    ClientOptions options;
    options.max_conns = 8;
    options.acquire_timeout = absl::Seconds(5);
    options.max_attempts = max_attempts;
    options.backoff = [](int32_t) { return absl::Milliseconds(1); };
    return options;
  }
  // A client as `client_` is, on `conninfo`.
  absl::StatusOr<std::unique_ptr<Client>> NewClient(const std::string& conninfo,
                                                    int max_attempts = 0) {
    ClientOptions options = ClientDefaults(max_attempts);
    options.conninfo = conninfo;
    return DatabaseTest::NewClient(options);
  }
  WorkerOptions Options() const {
    WorkerOptions options;
    options.mode = GetParam();
    options.interval = absl::Milliseconds(20);
    return options;
  }

  WorkMap work_map_;
};

INSTANTIATE_TEST_SUITE_P(Modes, ReliabilityTest, qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

TEST_P(ReliabilityTest, ShutdownGracePeriodCancelsAndReleasesRunningJobs) {
  std::atomic<int> started{0}, saw_cancel{0};
  work_map_.Register("Stubborn", [&](Job& job) -> absl::Status {
    ++started;
    while (!job.Cancelled()) absl::SleepFor(absl::Milliseconds(5));
    ++saw_cancel;
    return absl::CancelledError("stopping");
  });
  QG_ASSERT_OK(client_->Enqueue({.type = "Stubborn"}).status());
  QG_ASSERT_OK(client_->Enqueue({.type = "Stubborn"}).status());
  auto pool =
      std::make_unique<WorkerPool>(client_.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool->Start());
  ASSERT_TRUE(WaitFor([&] { return started == 2; }));
  absl::Time start = absl::Now();
  pool->Shutdown(absl::Milliseconds(200));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  EXPECT_EQ(saw_cancel, 2);
  // Released untouched: no error recorded, runnable now, no lock left.
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE error_count = 0 AND "
                  "run_at <= now()"),
            "2");
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
  pool->Shutdown();  // twice is fine
  pool.reset();
  Query("DELETE FROM que_jobs WHERE job_class = 'Stubborn' RETURNING 1");
  // Destroying a running pool without Shutdown is fine too.
  work_map_.Register("Quick", [](Job&) { return absl::OkStatus(); });
  QG_ASSERT_OK(client_->Enqueue({.type = "Quick"}).status());
  auto other =
      std::make_unique<WorkerPool>(client_.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(other->Start());
  ASSERT_TRUE(WaitFor([&] {
    return Query("SELECT count(*) FROM que_jobs WHERE job_class = 'Quick'") ==
           "0";
  }));
  other.reset();
}

TEST_P(ReliabilityTest, JobPastItsTimeoutIsCancelledFailedAndRetried) {
  std::atomic<int> cancelled{0};
  work_map_.Register("Slow", [&](Job& job) -> absl::Status {
    absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (!job.Cancelled() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (job.cancel_reason() == Job::CancelReason::kTimedOut) ++cancelled;
    return absl::OkStatus();  // even an OK after the timeout is a failure
  });
  work_map_.SetTimeout("Slow", absl::Milliseconds(100));
  ClientOptions options;
  options.conninfo = db_->conninfo();
  options.logger = &logger_;
  QG_ASSERT_OK_AND_ASSIGN(auto client, Client::Create(options));  // qg backoff
  QG_ASSERT_OK(client->Enqueue({.type = "Slow"}).status());
  WorkerPool pool(client.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor(
      [&] { return Query("SELECT error_count FROM que_jobs") == "1"; }));
  pool.Shutdown();
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(Query("SELECT last_error FROM que_jobs"),
            "job timed out after 100ms");
  EXPECT_EQ(Query("SELECT run_at > now() + interval '2 seconds' FROM que_jobs"),
            "t");
}

TEST_P(ReliabilityTest, JobOutOfAttemptsIsKeptDeadAndCanBeRetried) {
  QG_ASSERT_OK_AND_ASSIGN(auto client,
                          NewClient(db_->conninfo(), /*max_attempts=*/3));
  std::atomic<int> runs{0};
  work_map_.Register("Doomed", [&](Job&) {
    ++runs;
    return absl::InternalError("always fails");
  });
  QG_ASSERT_OK_AND_ASSIGN(int64_t id, client->Enqueue({.type = "Doomed"}));
  WorkerPool pool(client.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor(
      [&] { return Query("SELECT error_count FROM que_jobs") == "3"; }));
  absl::SleepFor(absl::Milliseconds(200));
  pool.Shutdown();
  EXPECT_EQ(runs, 3);  // not retried after the third failure
  EXPECT_EQ(Query("SELECT last_error FROM que_jobs"),
            "qg: dead after 3 attempts: always fails");
  // Ruby Que 0.x only takes run_at <= now(): never this one.
  EXPECT_EQ(Query("SELECT run_at = '9999-01-01 00:00:00+00' FROM que_jobs"),
            "t");
  QG_ASSERT_OK_AND_ASSIGN(std::vector<JobStats> stats, client->Stats());
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].count_dead, 1);
  QG_ASSERT_OK_AND_ASSIGN(std::vector<JobInfo> dead, client->DeadJobs());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].id, id);
  EXPECT_EQ(dead[0].error_count, 3);
  QG_ASSERT_OK(client->RetryJob(id));
  EXPECT_EQ(Query("SELECT error_count = 0 AND run_at <= now() FROM que_jobs"),
            "t");
  EXPECT_THAT(client->RetryJob(id + 1000),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(ReliabilityTest, ServerRestartWhileWorkingAndEnqueueing) {
  // A server of this test's own, stopped hard and started again.
  QG_ASSERT_OK_AND_ASSIGN(auto server, qg::EmbeddedPostgres::Start());
  // Trust authentication ignores the password; the logs must not show it.
  QG_ASSERT_OK_AND_ASSIGN(auto client,
                          NewClient(server->conninfo() + " password=hunter2"));
  std::mutex mu;
  absl::flat_hash_set<int64_t> done;
  work_map_.Register("Job", [&](Job& job) {
    absl::SleepFor(absl::Milliseconds(2));
    std::lock_guard<std::mutex> lock(mu);
    done.insert(job.id());
    return absl::OkStatus();
  });
  WorkerOptions options = Options();
  WorkerPool pool(client.get(), &work_map_, 4, options);
  QG_ASSERT_OK(pool.Start());
  std::vector<int64_t> enqueued;
  int refused = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i) {
      absl::StatusOr<int64_t> id = client->Enqueue({.type = "Job"});
      if (id.ok()) enqueued.push_back(*id);
    }
    QG_ASSERT_OK(server->Stop(/*immediate=*/true));
    // During the outage: a clear Unavailable, never a silent loss.
    absl::StatusOr<int64_t> lost = client->Enqueue({.type = "Job"});
    EXPECT_THAT(lost, StatusIs(absl::StatusCode::kUnavailable))
        << lost.status();
    refused += !lost.ok();
    absl::SleepFor(absl::Milliseconds(300));
    QG_ASSERT_OK(server->Restart());
  }
  // Pools reconnect and finish everything that was acknowledged.
  QG_ASSERT_OK_AND_ASSIGN(auto check, qg::Connect(server->conninfo()));
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = qg::Exec(check.get(), "SELECT count(*) FROM que_jobs");
        return r.ok() && r->Get(0, 0) == "0";
      },
      absl::Seconds(90)));
  pool.Shutdown();
  EXPECT_EQ(refused, 3);
  std::lock_guard<std::mutex> lock(mu);
  for (int64_t id : enqueued) EXPECT_TRUE(done.contains(id)) << "job " << id;
  // The pooled connections the restart broke were replaced.
  QG_EXPECT_OK(client->Enqueue({.type = "After"}).status());
  EXPECT_THAT(logger_.text(), HasSubstr("cannot connect"));  // it did log
  EXPECT_THAT(logger_.text(), Not(HasSubstr("hunter2")));
}

TEST_P(ReliabilityTest, TerminatedBackendLosesTheLockWithoutCrashing) {
  // One worker, five jobs: on the fast path the first runs while four wait
  // in the buffer, all locked by the locker session.
  std::mutex mu;
  std::vector<int64_t> order;
  std::promise<void> go;
  std::shared_future<void> go_done = go.get_future().share();
  work_map_.Register("Victim", [&](Job& job) {
    bool first;
    {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(job.id());
      first = order.size() == 1;
    }
    if (first) go_done.wait();
    return absl::OkStatus();
  });
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    QG_ASSERT_OK_AND_ASSIGN(int64_t id, client_->Enqueue({.type = "Victim"}));
    ids.push_back(id);
  }
  WorkerOptions options = Options();
  options.buffer = 4;
  WorkerPool pool(client_.get(), &work_map_, 1, options);
  QG_ASSERT_OK(pool.Start());
  auto runs = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return order.size();
  };
  ASSERT_TRUE(WaitFor([&] { return runs() == 1; }));
  // Terminate the session that holds the running job's lock (the locker on
  // the fast path, which holds the buffered jobs' locks too; the worker's own
  // connection on the qg path), and wait until its backend is gone.
  ASSERT_EQ(Query("SELECT count(DISTINCT pg_terminate_backend(pid, 10000)) "
                  "FROM pg_locks WHERE locktype = 'advisory' AND objid = $1",
                  {absl::StrCat(ids[0])}),
            "1");
  go.set_value();
  // Not reported done on the lost session's behalf: the running job stays
  // and runs again; the buffered ones, never started, run once; the pool
  // survives.
  ASSERT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM que_jobs") == "0"; }));
  pool.Shutdown();
  std::lock_guard<std::mutex> lock(mu);
  for (int i = 1; i < 5; ++i) {
    EXPECT_EQ(std::count(order.begin(), order.end(), ids[i]), 1)
        << "job " << ids[i] << " of " << absl::StrJoin(order, ",");
  }
  EXPECT_EQ(std::count(order.begin(), order.end(), ids[0]), 2);
  EXPECT_THAT(logger_.text(), HasSubstr("lost"));
}

TEST_P(ReliabilityTest, StuckLockQueryIsCancelledAndThePoolRecovers) {
  std::atomic<int> runs{0};
  work_map_.Register("Later", [&](Job&) {
    ++runs;
    return absl::OkStatus();
  });
  WorkerOptions options = Options();
  options.round_trip_timeout = absl::Milliseconds(300);
  WorkerPool pool(client_.get(), &work_map_, 1, options);
  QG_ASSERT_OK(pool.Start());
  // Another session holds que_jobs in ACCESS EXCLUSIVE mode (a migration,
  // say): every lock query waits behind it.
  QG_ASSERT_OK_AND_ASSIGN(auto blocker, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK(
      qg::ExecSimple(blocker.get(),
                     "BEGIN; LOCK TABLE que_jobs IN ACCESS EXCLUSIVE MODE")
          .status());
  absl::SleepFor(absl::Seconds(1));  // several lock attempts time out
  QG_ASSERT_OK(qg::ExecSimple(blocker.get(), "ROLLBACK").status());
  QG_ASSERT_OK(client_->Enqueue({.type = "Later"}).status());
  ASSERT_TRUE(WaitFor([&] { return runs == 1; }));
  absl::Time start = absl::Now();
  pool.Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(runs, 1);
  if (GetParam() == WorkerMode::kFast) {
    // The server cancelled the stuck statement (57014); no session is left
    // waiting behind the lock.
    EXPECT_THAT(logger_.text(), HasSubstr("statement timeout"));
  }
  EXPECT_EQ(Query("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type "
                  "= 'Lock'"),
            "0");
}

TEST_P(ReliabilityTest, BadInputIsClearAndLosesNothing) {
  // 10 MB of args round-trip byte for byte.
  std::string big =
      absl::StrCat("[\"", std::string(10 * 1024 * 1024, 'x'), "\"]");
  QG_ASSERT_OK(client_->Enqueue({.type = "Big", .args = big}).status());
  EXPECT_EQ(
      Query("SELECT length(args::text) FROM que_jobs WHERE job_class = 'Big'"),
      absl::StrCat(big.size()));
  // Names with quotes, newlines, non-ASCII and SQL are stored literally.
  std::vector<std::string> names = {"it's \"quoted\"", "two\nlines",
                                    "caf\xc3\xa9 \xe2\x9c\x93",
                                    "x'); DROP TABLE que_jobs; --"};
  for (const std::string& name : names) {
    QG_ASSERT_OK(client_->Enqueue({.type = name, .queue = name}).status())
        << name;
    EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE job_class = $1 AND "
                    "queue = $1",
                    {name}),
              "1")
        << name;
  }
  QG_ASSERT_OK_AND_ASSIGN(auto job, client_->LockJob(names[3]));
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->type(), names[3]);
  job->Done();
  // NUL bytes cannot be stored: a clear InvalidArgument, no row.
  EXPECT_THAT(
      client_->Enqueue({.type = "T", .args = std::string("[\"a\0b\"]", 7)}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  EXPECT_THAT(client_->Enqueue({.type = "T", .queue = std::string("q\0", 2)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  EXPECT_THAT(client_->Enqueue({.type = "T", .priority = -40000}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE job_class = 'T'"), "0");
}

TEST(ClientSchemaTest, AnotherQueVersionIsFailedPrecondition) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(auto conn, qg::Connect(db->conninfo()));
  // Que 1.x/2.x: id instead of job_id, last_error_message, schema version 4+.
  QG_ASSERT_OK(
      qg::ExecSimple(
          conn.get(),
          "DROP TABLE que_jobs CASCADE; CREATE TABLE que_jobs (id "
          "bigserial PRIMARY KEY, priority smallint, run_at timestamptz, "
          "job_class text, args jsonb, error_count int, "
          "last_error_message text, queue text); COMMENT ON TABLE "
          "que_jobs IS '7'")
          .status());
  EXPECT_THAT(Client::Create({.conninfo = db->conninfo()}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("another Que version")));
}

TEST(SecurityTest, PasswordsNeverAppearInMessages) {
  for (const char* conninfo :
       {"host=@qg-nowhere user=u password=hunter2 dbname=x connect_timeout=1",
        "postgresql://u:hunter2@/x?host=@qg-nowhere&connect_timeout=1",
        "host=@qg-nowhere sslpassword=hunter2 dbname=x connect_timeout=1",
        "postgresql:///x?host=@qg-nowhere&sslpassword=hunter2&"
        "connect_timeout=1"}) {
    absl::StatusOr<std::unique_ptr<Client>> c =
        Client::Create({.conninfo = conninfo});
    EXPECT_FALSE(c.ok());
    EXPECT_THAT(std::string(c.status().message()), Not(HasSubstr("hunter2")));
    EXPECT_THAT(RedactConninfo(conninfo), Not(HasSubstr("hunter2")));
    EXPECT_THAT(RedactConninfo(conninfo), HasSubstr("****"));
  }
}

// With the grants README lists; and without EXECUTE on qg_sweep (a role
// set up before the sweep existed): the fast pool then scans from the head
// after each failed sweep, so retried and snoozed jobs still run. CI once
// hung on that role: a job retried behind the lock scan's cursor was only
// ever looked for by the sweep.
class MinimalGrantsTest : public testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Sweep, MinimalGrantsTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Granted" : "NotGranted";
                         });

TEST_P(MinimalGrantsTest, WorkerRoleCanEnqueueWorkAndReadStats) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(auto admin, qg::Connect(db->conninfo()));
  // The grants documented in README.md ("Security").
  const std::string sweep = GetParam() ? ", qg_sweep" : "";
  QG_ASSERT_OK(
      qg::ExecSimple(
          admin.get(),
          "DROP ROLE IF EXISTS qg_worker_" + db->name() +
              "; "
              "CREATE ROLE qg_worker_" +
              db->name() +
              " LOGIN; "
              "GRANT USAGE ON SCHEMA public TO qg_worker_" +
              db->name() +
              "; "
              "GRANT SELECT, INSERT, UPDATE, DELETE ON que_jobs TO qg_worker_" +
              db->name() +
              "; "
              "GRANT USAGE ON SEQUENCE que_jobs_job_id_seq TO qg_worker_" +
              db->name() +
              "; "
              "REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC; "
              "GRANT EXECUTE ON FUNCTION qg_lock_jobs, qg_rows_where_read, "
              "qg_next_due, "
              "qg_queue_limits, qg_limit_admit, qg_limit_bucket, "
              "qg_limit_bucket_args, qg_limit_lock_key, qg_limit_hand" +
              sweep + " TO qg_worker_" + db->name() +
              "; GRANT SELECT ON qg_limits TO qg_worker_" + db->name() +
              "; GRANT SELECT, INSERT, UPDATE ON qg_limit_rates TO "
              "qg_worker_" +
              db->name() + "; GRANT SELECT ON qg_queues TO qg_worker_" +
              db->name() +
              "; GRANT SELECT, UPDATE ON qg_cancellations TO qg_worker_" +
              db->name() +
              "; GRANT SELECT, INSERT, UPDATE, DELETE ON qg_job_counts TO "
              "qg_worker_" +
              db->name() +
              "; GRANT EXECUTE ON FUNCTION qg_history_queues TO qg_worker_" +
              db->name() +
              "; GRANT SELECT ON qg_history_settings TO qg_worker_" +
              db->name() +
              "; GRANT SELECT, INSERT, UPDATE, DELETE ON qg_job_history TO "
              "qg_worker_" +
              db->name())
          .status());
  std::string conninfo =
      absl::StrCat(db->conninfo(), " user=qg_worker_", db->name());
  QG_ASSERT_OK_AND_ASSIGN(
      auto client,
      Client::Create({.conninfo = conninfo, .backoff = [](int32_t) {
                        return absl::Milliseconds(1);
                      }}));
  std::atomic<int> runs{0}, failures{0};
  WorkMap work_map;
  work_map.Register("Granted", [&](Job&) {
    ++runs;
    return absl::OkStatus();
  });
  // Fails once: its error is recorded under the role's grants too.
  work_map.Register("FailsOnce", [&](Job& job) {
    if (job.error_count() == 0) {
      ++failures;
      return absl::UnavailableError("once");
    }
    ++runs;
    return absl::OkStatus();
  });
  // Snoozes once: rescheduled under the role's grants.
  std::atomic<int> snoozes{0};
  work_map.Register("SnoozesOnce", [&](Job& job) {
    if (job.args() == "[]" && snoozes++ % 2 == 0) {
      return Snooze(absl::Milliseconds(1));
    }
    ++runs;
    return absl::OkStatus();
  });
  // Runs until an operator cancels it: recorded as cancelled under the
  // role's grants (acknowledging the request, then the dead marker).
  std::atomic<int> cancelled{0};
  work_map.Register("Cancelled", [&](Job& job) {
    while (!job.Cancelled()) absl::SleepFor(absl::Milliseconds(2));
    ++cancelled;
    return absl::CancelledError("stopped");
  });
  QG_ASSERT_OK_AND_ASSIGN(auto operator_client,
                          Client::Create({.conninfo = db->conninfo()}));
  for (WorkerMode mode : {WorkerMode::kFast, WorkerMode::kQgCompat}) {
    runs = 0;
    failures = 0;
    cancelled = 0;
    QG_ASSERT_OK(client->Enqueue({.type = "Granted"}).status());
    QG_ASSERT_OK(client->Enqueue({.type = "FailsOnce"}).status());
    QG_ASSERT_OK(client->Enqueue({.type = "SnoozesOnce"}).status());
    QG_ASSERT_OK_AND_ASSIGN(int64_t to_cancel,
                            client->Enqueue({.type = "Cancelled"}));
    QG_ASSERT_OK(client
                     ->EnqueueStream([i = 0](NewJob& job) mutable {
                       job.type = "Granted";
                       return ++i <= 10;
                     })
                     .status());
    WorkerOptions options;
    options.mode = mode;
    options.interval = absl::Milliseconds(20);
    WorkerPool pool(client.get(), &work_map, 2, options);
    QG_ASSERT_OK(pool.Start());
    EXPECT_EQ(pool.mode(), mode);
    ASSERT_TRUE(WaitFor([&] { return runs == 13; })) << "runs " << runs;
    EXPECT_EQ(failures, 1);
    QG_ASSERT_OK_AND_ASSIGN(CancelOutcome outcome,
                            operator_client->CancelJob(to_cancel));
    EXPECT_EQ(outcome, CancelOutcome::kStopping);
    ASSERT_TRUE(WaitFor([&] {
      return qg_testing::QueryValue(
                 admin.get(),
                 "SELECT count(*) FROM que_jobs WHERE last_error LIKE 'qg: "
                 "cancelled%'") == "1";
    }));
    pool.Shutdown();
    EXPECT_EQ(cancelled, 1);
    QG_ASSERT_OK_AND_ASSIGN(auto stats, client->Stats());
    ASSERT_EQ(stats.size(), 1u);  // the cancelled job, kept
    EXPECT_EQ(stats[0].count_dead, 1);
    QG_ASSERT_OK(qg::Exec(admin.get(), "DELETE FROM que_jobs").status());
  }
  // With history on, both paths write their records under these grants.
  QG_ASSERT_OK(qg::ExecSimple(admin.get(),
                              "INSERT INTO qg_queues (queue, history) "
                              "VALUES ('', true)")
                   .status());
  QG_ASSERT_OK_AND_ASSIGN(
      auto recording,
      Client::Create({.conninfo = conninfo}));  // sees the grants now
  for (WorkerMode mode : {WorkerMode::kFast, WorkerMode::kQgCompat}) {
    runs = 0;
    QG_ASSERT_OK_AND_ASSIGN(int64_t id,
                            recording->Enqueue({.type = "Granted"}));
    WorkerOptions options;
    options.mode = mode;
    options.interval = absl::Milliseconds(20);
    WorkerPool pool(recording.get(), &work_map, 1, options);
    QG_ASSERT_OK(pool.Start());
    ASSERT_TRUE(WaitFor([&] { return runs == 1; }));
    ASSERT_TRUE(WaitFor([&] {
      return qg_testing::QueryValue(
                 admin.get(), absl::StrCat("SELECT outcome FROM "
                                           "qg_job_history WHERE job_id = ",
                                           id)) == "completed";
    })) << qg_testing::WorkerModeName(mode);
    pool.Shutdown();
  }
  // And nothing more: the role cannot drop the table.
  QG_ASSERT_OK_AND_ASSIGN(auto as_worker, qg::Connect(conninfo));
  EXPECT_THAT(qg::ExecSimple(as_worker.get(), "DROP TABLE que_jobs").status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

// A role that may not write job history: the fast path, whose completion
// statements write it, is unavailable to it (its completions would fail and
// its jobs run again and again), so the pool runs qg-compatible, saying
// which grants the fast path needs; that path records no history and
// works.
TEST(HistoryGrantsTest, RoleThatCannotWriteHistoryRunsQgCompatible) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(auto admin, qg::Connect(db->conninfo()));
  const std::string role = "qg_nohist_" + db->name();
  QG_ASSERT_OK(
      qg::ExecSimple(
          admin.get(),
          absl::StrCat("DROP ROLE IF EXISTS ", role, "; CREATE ROLE ", role,
                       " LOGIN; GRANT USAGE ON SCHEMA public TO ", role,
                       "; GRANT ALL ON ALL TABLES IN SCHEMA public TO ", role,
                       "; GRANT ALL ON ALL SEQUENCES IN SCHEMA public "
                       "TO ",
                       role, "; REVOKE INSERT ON qg_job_history FROM ", role,
                       "; INSERT INTO qg_queues (queue, history) "
                       "VALUES ('', true)"))
          .status());
  std::string conninfo = absl::StrCat(db->conninfo(), " user=", role);
  QG_ASSERT_OK_AND_ASSIGN(auto client, Client::Create({.conninfo = conninfo}));
  std::atomic<int> runs{0};
  WorkMap work_map;
  work_map.Register("Plain", [&](Job&) {
    ++runs;
    return absl::OkStatus();
  });
  QG_ASSERT_OK(client->Enqueue({.type = "Plain"}).status());
  WorkerOptions fast;
  fast.mode = WorkerMode::kFast;
  fast.interval = absl::Milliseconds(20);
  WorkerPool pool(client.get(), &work_map, 1, fast);
  QG_ASSERT_OK(pool.Start());
  EXPECT_EQ(pool.mode(), WorkerMode::kQgCompat);
  EXPECT_THAT(pool.mode_reason(),
              HasSubstr("INSERT, UPDATE ON qg_job_history"));
  ASSERT_TRUE(WaitFor([&] {
    return qg_testing::QueryValue(admin.get(),
                                  "SELECT count(*) FROM que_jobs") == "0";
  }));
  pool.Shutdown();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(qg_testing::QueryValue(admin.get(),
                                   "SELECT count(*) FROM qg_job_history"),
            "0");
  // An operator under such a role cancels as before history (kept as
  // cancelled), and a retry of an id with no job is NotFound, not a
  // permission error.
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t later, client->Enqueue({.type = "Plain",
                                      .run_at = absl::Now() + absl::Hours(1)}));
  QG_ASSERT_OK_AND_ASSIGN(CancelOutcome outcome, client->CancelJob(later));
  EXPECT_EQ(outcome, CancelOutcome::kCancelled);
  EXPECT_EQ(qg_testing::QueryValue(
                admin.get(),
                absl::StrCat("SELECT last_error LIKE 'qg: cancelled%' FROM "
                             "que_jobs WHERE job_id = ",
                             later)),
            "t");
  EXPECT_THAT(client->RetryJob(987654), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace qg
