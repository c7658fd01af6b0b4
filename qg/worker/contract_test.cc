// The C++ API's contracts, in both worker modes where they apply: what may be
// called from a handler (a pool's or a worker's own Shutdown()), what a
// stopped pool or a closed client answers, and which objects may outlive
// which (a locked job its client; a running pool must not).
#include <atomic>
#include <cstdlib>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/internal/test_hooks.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/worker_modes.h"
#include "qg/worker/worker.h"

namespace qg {
namespace {

using ::qg_testing::StatusIs;
using ::qg_testing::WaitFor;
using ::testing::HasSubstr;

// Runs `fn` on a thread of its own and waits up to a minute for it; a call
// that never returns (a deadlock) ends the test binary with a message
// instead of hanging it until Bazel's timeout.
void ReturnsWithinAMinute(const std::string& what, std::function<void()> fn) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> returned = done->get_future();
  std::thread([fn = std::move(fn), done] {
    fn();
    done->set_value();
  }).detach();
  if (returned.wait_for(std::chrono::minutes(1)) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: %s did not return within a minute\n",
                 what.c_str());
    std::_Exit(1);
  }
}

class ContractTest : public qg_testing::DatabaseTest,
                     public ::testing::WithParamInterface<WorkerMode> {
 protected:
  ContractTest() : DatabaseTest({.max_conns = 4}) {}
  WorkerOptions Options() const {
    WorkerOptions options;
    options.mode = GetParam();
    options.interval = absl::Milliseconds(50);
    return options;
  }
  WorkMap work_map_;
};

INSTANTIATE_TEST_SUITE_P(Modes, ContractTest, qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

// A poison message: the handler stops its own pool. The call returns at
// once, the handler's job ends as the handler said (completed here), no new
// job starts, and a Shutdown() from the owner (and the destructor) returns.
TEST_P(ContractTest, ShutdownFromAHandlerStopsThePoolAfterTheHandlerReturns) {
  std::atomic<int> others{0};
  std::atomic<bool> returned{false};
  std::unique_ptr<WorkerPool> pool;
  work_map_.Register("Poison", [&](Job&) {
    pool->Shutdown();
    returned = true;
    return absl::OkStatus();
  });
  work_map_.Register("Other", [&](Job&) {
    ++others;
    return absl::OkStatus();
  });
  QG_ASSERT_OK(client_->Enqueue({.type = "Poison", .priority = 1}).status());
  for (int i = 0; i < 3; ++i) {
    QG_ASSERT_OK(client_->Enqueue({.type = "Other", .priority = 2}).status());
  }
  pool = std::make_unique<WorkerPool>(client_.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool->Start());
  ASSERT_TRUE(WaitFor([&] { return returned.load(); }, absl::Seconds(30)))
      << "Shutdown() called from a handler did not return";
  ReturnsWithinAMinute("the owner's Shutdown()", [&] { pool->Shutdown(); });
  ReturnsWithinAMinute("~WorkerPool()", [&] { pool.reset(); });
  EXPECT_EQ(CountJobs("job_class = 'Poison'"), 0);  // completed
  EXPECT_EQ(others, 0);
  EXPECT_EQ(CountJobs("job_class = 'Other' AND error_count = 0"), 3);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = "
                  "'advisory'"),
            "0");
}

// The same from another of the pool's threads' callbacks: a handler of a
// second worker, while the first is busy, and a second call racing the
// first.
TEST_P(ContractTest, ShutdownFromTwoHandlersAtOnceReturnsInBoth) {
  std::atomic<int> returned{0};
  std::unique_ptr<WorkerPool> pool;
  std::atomic<WorkerPool*> raw{nullptr};  // `pool` is reset while they run
  work_map_.Register("Poison", [&](Job&) {
    raw.load()->Shutdown(absl::Seconds(1));
    ++returned;
    return absl::OkStatus();
  });
  for (int i = 0; i < 2; ++i) {
    QG_ASSERT_OK(client_->Enqueue({.type = "Poison"}).status());
  }
  pool = std::make_unique<WorkerPool>(client_.get(), &work_map_, 2, Options());
  raw = pool.get();
  QG_ASSERT_OK(pool->Start());
  ASSERT_TRUE(WaitFor([&] { return returned >= 1; }, absl::Seconds(30)));
  ReturnsWithinAMinute("~WorkerPool()", [&] { pool.reset(); });
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = "
                  "'advisory'"),
            "0");
}

TEST_P(ContractTest, StartAfterShutdownIsFailedPrecondition) {
  WorkerPool pool(client_.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  pool.Shutdown();
  EXPECT_THAT(pool.Start(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("after Shutdown")));
  // A pool shut down before it ever started cannot start either.
  WorkerPool never(client_.get(), &work_map_, 1, Options());
  never.Shutdown();
  EXPECT_THAT(never.Start(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_P(ContractTest, StartOnAClosedClientIsFailedPrecondition) {
  client_->Close();
  WorkerPool pool(client_.get(), &work_map_, 1, Options());
  EXPECT_THAT(pool.Start(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("client is closed")));
}

// After Client::Close() a running pool takes no new job, in both modes, and
// says so once rather than once per worker and interval.
TEST_P(ContractTest, ClosingTheClientStopsNewJobsAndSaysSoOnce) {
  std::atomic<int> runs{0};
  work_map_.Register("Job", [&](Job&) {
    ++runs;
    return absl::OkStatus();
  });
  WorkerPool pool(client_.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  QG_ASSERT_OK(client_->Enqueue({.type = "Job"}).status());
  ASSERT_TRUE(WaitFor([&] { return runs == 1; }));
  ASSERT_TRUE(WaitFor([&] { return CountJobs() == 0; }));
  client_->Close();
  EXPECT_THAT(client_->Enqueue({.type = "Job"}).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  Query("INSERT INTO que_jobs (job_class) VALUES ('Job') RETURNING 1");
  // Twenty of the workers' intervals.
  absl::SleepFor(absl::Seconds(1));
  pool.Shutdown();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(CountJobs(), 1);
  int said = 0;
  for (const std::string& m : logger_.messages()) {
    if (m.find("client is closed") != std::string::npos) ++said;
  }
  EXPECT_EQ(said, 1);
}

// User callbacks that throw (hooks, the logger, an observer, the synchronous
// runner) never take a pool's thread or the process down, and leave no job
// or lock behind: each is handled like the error it stands for.
class Throwing : public Logger, public PoolObserver {
 public:
  void Log(LogLevel, absl::string_view) override {
    ++logged;
    throw std::runtime_error("logger broke");
  }
  void OnRoundTrip(const RoundTrip&) override { throw 42; }
  void OnSweep(const Sweep&) override { throw std::logic_error("sweep"); }
  void OnJobDone(const JobDone&) override { throw std::logic_error("done"); }
  std::atomic<int> logged{0};
};

TEST_P(ContractTest, CallbacksThatThrowNeverTakeThePoolDown) {
  Throwing throwing;
  std::atomic<int> ran_delete{0}, ran_fail{0};
  QG_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Client> client,
      Client::Create(
          {.conninfo = db_->conninfo(),
           .logger = &throwing,
           .delete_func = [](Job& job, Executor& exec) -> absl::Status {
             if (job.type() == "DeleteThrows") {
               throw std::runtime_error("archive is down");
             }
             return DefaultDelete(job, exec);
           },
           .backoff = [](int32_t) -> absl::Duration { throw 7; }}));
  work_map_.Register("DeleteThrows", [&](Job&) {
    ++ran_delete;
    return absl::OkStatus();
  });
  work_map_.Register("Fails", [&](Job&) {
    ++ran_fail;
    return absl::UnavailableError("try later");
  });
  work_map_.Register("Fine", [](Job&) { return absl::OkStatus(); });
  QG_ASSERT_OK(client->Enqueue({.type = "DeleteThrows"}).status());
  QG_ASSERT_OK(client->Enqueue({.type = "Fails"}).status());
  QG_ASSERT_OK(client->Enqueue({.type = "Fine"}).status());
  WorkerOptions options = Options();
  options.observer = &throwing;
  WorkerPool pool(client.get(), &work_map_, 2, options);
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] {
    return ran_delete >= 1 && ran_fail == 1 &&
           CountJobs("job_class = 'Fine'") == 0 &&
           CountJobs("job_class = 'Fails' AND error_count = 1") == 1;
  }));
  pool.Shutdown();
  // The throwing DeleteFunc is an error: the job stays, to run again.
  EXPECT_EQ(CountJobs("job_class = 'DeleteThrows'"), 1);
  // The throwing backoff gets the default one (1^4 + 3 s).
  EXPECT_EQ(Query("SELECT run_at BETWEEN now() AND now() + interval '10 s' "
                  "FROM que_jobs WHERE job_class = 'Fails'"),
            "t");
  EXPECT_GT(throwing.logged, 0);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = "
                  "'advisory'"),
            "0");

  // A synchronous runner that throws: a clear error, the job stored and
  // unlocked for a worker.
  QG_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Client> sync,
      Client::Create({.conninfo = db_->conninfo(),
                      .logger = &logger_,
                      .synchronous = [](Job&) -> absl::Status {
                        throw std::runtime_error("runner broke");
                      }}));
  EXPECT_THAT(sync->Enqueue({.type = "Sync"}).status(),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("synchronous runner threw: runner broke")));
  EXPECT_EQ(CountJobs("job_class = 'Sync'"), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = "
                  "'advisory'"),
            "0");
}

// A pool that cannot have all its threads (a process limit) says so and
// leaves nothing running: no thread, no session, no lock; it may be started
// again once threads can be had.
TEST_P(ContractTest, NoThreadLeftMakesStartFailCleanly) {
  std::atomic<int> runs{0};
  work_map_.Register("Job", [&](Job&) {
    ++runs;
    return absl::OkStatus();
  });
  auto pool =
      std::make_unique<WorkerPool>(client_.get(), &work_map_, 3, Options());
  // The locker (or control listener) and one worker, then none.
  internal::ThreadStartsLeftForTesting() = 2;
  absl::Status s = pool->Start();
  internal::ThreadStartsLeftForTesting() = -1;
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted,
                          HasSubstr("cannot start a thread")));
  EXPECT_TRUE(WaitFor([&] {
    return Query(
               "SELECT count(*) FROM pg_stat_activity WHERE datname = "
               "current_database() AND pid <> pg_backend_pid() AND "
               "query LIKE 'LISTEN%'") == "0";
  }));
  QG_ASSERT_OK(client_->Enqueue({.type = "Job"}).status());
  QG_ASSERT_OK(pool->Start());  // threads again: it starts
  ASSERT_TRUE(WaitFor([&] { return runs == 1; }));
  ReturnsWithinAMinute("~WorkerPool()", [&] { pool.reset(); });
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = "
                  "'advisory'"),
            "0");
}

class LifetimeTest : public qg_testing::DatabaseTest {};

// A job from LockJob() keeps what it uses alive: destroying its client
// first, then finishing the job, works (under ASan: no use after free).
TEST_F(LifetimeTest, LockedJobMayOutliveItsClient) {
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> client, NewClient());
  QG_ASSERT_OK(client->Enqueue({.type = "Outlives"}).status());
  QG_ASSERT_OK(client->Enqueue({.type = "Outlives"}).status());
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Job> deleted, client->LockJob(""));
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Job> failed, client->LockJob(""));
  ASSERT_NE(deleted, nullptr);
  ASSERT_NE(failed, nullptr);
  client.reset();
  QG_EXPECT_OK(deleted->Delete());
  deleted->Done();
  QG_EXPECT_OK(failed->Error("after the client"));
  failed.reset();  // ~Job ends it
  EXPECT_EQ(CountJobs(), 1);
  EXPECT_EQ(Query("SELECT last_error FROM que_jobs"), "after the client");
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = "
                  "'advisory'"),
            "0");
}

// A running pool must not outlive its client: debug builds stop at the
// mistake instead of reading freed memory later.
TEST_P(ContractTest, DestroyingTheClientOfARunningPoolIsCaughtInDebugBuilds) {
#ifdef NDEBUG
  GTEST_SKIP() << "a debug check";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::unique_ptr<Client> client = *NewClient();
        WorkerPool pool(client.get(), &work_map_, 1, Options());
        if (!pool.Start().ok()) std::abort();
        client.reset();
      },
      "worker pool");
#endif
}

}  // namespace
}  // namespace qg
