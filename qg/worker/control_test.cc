// Job and queue control, in both worker modes: snooze, pause and resume,
// cancel; and the throughput counts the workers leave behind.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/pg.h"
#include "qg/status_macros.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"
#include "qg/testing/worker_modes.h"
#include "qg/worker/pool_observer.h"
#include "qg/worker/worker.h"

namespace qg {
namespace {

using ::qg_testing::StatusIs;
using ::qg_testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ControlTest : public qg_testing::DatabaseTest,
                    public ::testing::WithParamInterface<WorkerMode> {
 protected:
  ControlTest() : DatabaseTest({.max_conns = 8}) {}
  WorkerOptions Options(const std::string& queue = "") const {
    WorkerOptions options;
    options.mode = GetParam();
    options.interval = absl::Milliseconds(50);
    options.queue = queue;
    return options;
  }
  // Registers "Long" (counts its runs, waits up to 30 s until cancelled,
  // counts the cancels an operator asked for, then fails), enqueues one as
  // `*id`, starts `pool` and waits until the job runs.
  void StartLong(WorkerPool& pool, int64_t* id) {
    work_map_.Register("Long", [this](Job& job) -> absl::Status {
      ++runs_;
      absl::Time give_up = absl::Now() + absl::Seconds(30);
      while (!job.Cancelled() && absl::Now() < give_up) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      if (job.cancel_reason() == Job::CancelReason::kCancelled) ++saw_cancel_;
      return absl::CancelledError("stopped");
    });
    QG_ASSERT_OK_AND_ASSIGN(*id, client_->Enqueue({.type = "Long"}));
    QG_ASSERT_OK(pool.Start());
    ASSERT_TRUE(WaitFor([&] { return runs_ == 1; }));
  }
  WorkMap work_map_;
  std::atomic<int> runs_{0}, saw_cancel_{0};
};

INSTANTIATE_TEST_SUITE_P(Modes, ControlTest, qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

TEST_P(ControlTest, SnoozedJobKeepsItsErrorCountAndLastErrorAndRunsLater) {
  std::atomic<int> runs{0};
  work_map_.Register("Nap", [&](Job& job) -> absl::Status {
    int n = ++runs;
    if (n == 1) return absl::UnavailableError("first try fails");
    if (n == 2) {
      // Written through the job's transaction: commits with the snooze.
      QG_ASSIGN_OR_RETURN(qg::Tx * tx, job.Tx());
      QG_RETURN_IF_ERROR(
          tx->Query("INSERT INTO naps VALUES ($1)", {absl::StrCat(job.id())})
              .status());
      return Snooze(absl::Milliseconds(700));
    }
    return absl::OkStatus();
  });
  Query("CREATE TABLE naps (job_id bigint)");
  QG_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Client> fast_retry,
      Client::Create({.conninfo = db_->conninfo(), .backoff = [](int32_t) {
                        return absl::Milliseconds(1);
                      }}));
  QG_ASSERT_OK_AND_ASSIGN(int64_t id, fast_retry->Enqueue({.type = "Nap"}));
  WorkerPool pool(fast_retry.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return runs == 2; }));
  // Snoozed: error_count and last_error from the failure, run_at ahead, the
  // handler's write committed.
  ASSERT_TRUE(WaitFor([&] {
    return Query("SELECT run_at > now() FROM que_jobs WHERE job_id = $1",
                 {absl::StrCat(id)}) == "t";
  }));
  EXPECT_EQ(Query("SELECT error_count || ' ' || last_error FROM que_jobs "
                  "WHERE job_id = $1",
                  {absl::StrCat(id)}),
            "1 first try fails");
  EXPECT_EQ(Query("SELECT count(*) FROM naps"), "1");
  EXPECT_EQ(runs, 2);
  ASSERT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM que_jobs") == "0"; }));
  EXPECT_EQ(runs, 3);
  pool.Shutdown();
}

// A verb the handler calls on its Job is the job's final outcome: the
// worker's default ending (delete on OK, error on failure) neither replaces
// it nor follows it, and a second verb changes nothing.
TEST_P(ControlTest, VerbCalledByTheHandlerIsTheJobsFinalOutcome) {
  std::atomic<int> runs{0};
  std::mutex mu;
  std::vector<std::string> second_verb;  // what a second verb returned
  work_map_.Register("Verb", [&](Job& job) -> absl::Status {
    ++runs;
    const std::string& what = job.args();
    if (what == "[\"snooze\"]") return job.Snooze(absl::Minutes(5));
    if (what == "[\"snooze-then-fail\"]") {
      QG_RETURN_IF_ERROR(job.Snooze(absl::Minutes(5)));
      return absl::InternalError("failed after snoozing");
    }
    if (what == "[\"error-then-ok\"]") {
      QG_RETURN_IF_ERROR(job.Error("recorded by the handler"));
      return absl::OkStatus();
    }
    if (what == "[\"delete-then-fail\"]") {
      QG_RETURN_IF_ERROR(job.Delete());
      return absl::InternalError("failed after deleting");
    }
    if (what == "[\"snooze-then-delete\"]") {
      QG_RETURN_IF_ERROR(job.Snooze(absl::Minutes(5)));
      absl::Status s = job.Delete();
      std::lock_guard<std::mutex> lock(mu);
      second_verb.push_back(s.ToString());
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError("unexpected args");
  });
  // Retries an hour later: nothing runs twice while the test looks.
  QG_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Client> client,
      Client::Create({.conninfo = db_->conninfo(),
                      .logger = &logger_,
                      .backoff = [](int32_t) { return absl::Hours(1); }}));
  for (const char* what : {"snooze", "snooze-then-fail", "error-then-ok",
                           "delete-then-fail", "snooze-then-delete"}) {
    QG_ASSERT_OK(client
                     ->Enqueue({.type = "Verb",
                                .args = absl::StrCat("[\"", what, "\"]")})
                     .status());
  }
  WorkerPool pool(client.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return runs == 5; }));
  pool.Shutdown();  // writes what the fast path batched
  auto state = [&](const std::string& what) {
    return Query(
        "SELECT coalesce(string_agg(format('%s|%s|%s', error_count, "
        "coalesce(last_error, '-'), run_at > now() + interval '4 minutes'), "
        "','), 'gone') FROM que_jobs WHERE args::text = $1",
        {absl::StrCat("[\"", what, "\"]")});
  };
  EXPECT_EQ(state("snooze"), "0|-|t");
  EXPECT_EQ(state("snooze-then-fail"), "0|-|t");
  EXPECT_EQ(state("error-then-ok"), "1|recorded by the handler|t");
  EXPECT_EQ(state("delete-then-fail"), "gone");
  EXPECT_EQ(state("snooze-then-delete"), "0|-|t");
  ASSERT_EQ(second_verb.size(), 1u);
  EXPECT_THAT(second_verb[0], HasSubstr("FAILED_PRECONDITION"));
  EXPECT_EQ(runs, 5);  // none ran again
}

TEST_P(ControlTest, NegativeSnoozeFailsTheJobWithInvalidArgument) {
  EXPECT_THAT(Snooze(absl::Seconds(-1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(SnoozeDelay(Snooze(absl::Seconds(-1))).has_value());
  EXPECT_EQ(SnoozeDelay(Snooze(absl::Seconds(3))), absl::Seconds(3));
  work_map_.Register("BadNap", [](Job&) { return Snooze(absl::Seconds(-1)); });
  QG_ASSERT_OK_AND_ASSIGN(int64_t id, client_->Enqueue({.type = "BadNap"}));
  WorkerPool pool(client_.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] {
    return Query("SELECT error_count FROM que_jobs WHERE job_id = $1",
                 {absl::StrCat(id)}) == "1";
  }));
  pool.Shutdown();
  EXPECT_THAT(Query("SELECT last_error FROM que_jobs"),
              HasSubstr("must be a finite duration of 0 or more"));
}

TEST_P(ControlTest, PausedQueueLocksNothingNewWithinASecondAndResumes) {
  std::atomic<int> runs{0};
  std::atomic<bool> release{false};
  work_map_.Register("P", [&](Job& job) {
    ++runs;
    if (job.args() == "[\"slow\"]") {
      while (!release) absl::SleepFor(absl::Milliseconds(5));
    }
    return absl::OkStatus();
  });
  QG_ASSERT_OK(
      client_->Enqueue({.type = "P", .args = "[\"slow\"]", .queue = "q"})
          .status());
  WorkerPool pool(client_.get(), &work_map_, 2, Options("q"));
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return runs == 1; }));
  QG_ASSERT_OK(client_->PauseQueue("q"));
  absl::Time paused_at = absl::Now();
  absl::SleepFor(absl::Seconds(1));  // the pools' promise: within a second
  for (int i = 0; i < 5; ++i) {
    QG_ASSERT_OK(client_->Enqueue({.type = "P", .queue = "q"}).status());
  }
  // Idle workers, ready jobs, a paused queue: nothing new starts.
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_EQ(runs, 1) << "after " << absl::Now() - paused_at;
  release = true;  // the running job finishes normally
  ASSERT_TRUE(WaitFor([&] {
    return Query(
               "SELECT count(*) FROM que_jobs WHERE args::text = "
               "'[\"slow\"]'") == "0";
  }));
  QG_ASSERT_OK_AND_ASSIGN(std::vector<std::string> paused,
                          client_->PausedQueues());
  EXPECT_THAT(paused, ::testing::ElementsAre("q"));
  // The state survives the pool: a new one locks nothing either.
  pool.Shutdown();
  WorkerPool again(client_.get(), &work_map_, 2, Options("q"));
  QG_ASSERT_OK(again.Start());
  absl::SleepFor(absl::Milliseconds(700));
  EXPECT_EQ(runs, 1);
  QG_ASSERT_OK(client_->ResumeQueue("q"));
  EXPECT_TRUE(WaitFor([&] { return runs == 6; }, absl::Seconds(10)));
  again.Shutdown();
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

TEST_P(ControlTest, CancelledRunningJobStopsAndIsNeverRetried) {
  WorkerPool pool(client_.get(), &work_map_, 1, Options());
  int64_t id = 0;
  ASSERT_NO_FATAL_FAILURE(StartLong(pool, &id));
  absl::Time asked = absl::Now();
  QG_ASSERT_OK_AND_ASSIGN(CancelOutcome outcome, client_->CancelJob(id));
  EXPECT_EQ(outcome, CancelOutcome::kStopping);
  ASSERT_TRUE(WaitFor([&] { return saw_cancel_ == 1; }));
  EXPECT_LT(absl::Now() - asked, absl::Seconds(1));
  ASSERT_TRUE(WaitFor([&] {
    return Query(
               "SELECT run_at >= '9999-01-01' FROM que_jobs WHERE job_id = "
               "$1",
               {absl::StrCat(id)}) == "t";
  }));
  EXPECT_THAT(Query("SELECT last_error FROM que_jobs"),
              StartsWith(std::string(kCancelledMarker)));
  EXPECT_EQ(Query("SELECT error_count FROM que_jobs"), "0");
  absl::SleepFor(absl::Milliseconds(500));  // never retried
  pool.Shutdown();
  EXPECT_EQ(runs_, 1);
  EXPECT_EQ(Query("SELECT count(*) FROM qg_cancellations"), "0");
  // Retry revives it.
  QG_ASSERT_OK(client_->RetryJob(id));
  EXPECT_EQ(Query("SELECT run_at <= now() FROM que_jobs"), "t");
}

// Cancelling a running job that had failed before keeps the error it failed
// of, below the cancel line (as cancelling one nobody holds does).
TEST_P(ControlTest, CancelledRunningJobKeepsTheErrorItFailedOfBefore) {
  int64_t id = QueryInt(
      "INSERT INTO que_jobs (job_class, error_count, last_error) VALUES "
      "('Long', 1, 'card declined') RETURNING job_id");
  work_map_.Register("Long", [this](Job& job) -> absl::Status {
    ++runs_;
    absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (!job.Cancelled() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return absl::CancelledError("stopped");
  });
  WorkerPool pool(client_.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return runs_ == 1; }));
  QG_ASSERT_OK(client_->CancelJob(id).status());
  ASSERT_TRUE(WaitFor([&] {
    return Query("SELECT run_at >= '9999-01-01' FROM que_jobs") == "t";
  }));
  pool.Shutdown();
  std::string error = Query("SELECT last_error FROM que_jobs");
  EXPECT_THAT(error, StartsWith(std::string(kCancelledMarker)));
  EXPECT_THAT(error, ::testing::EndsWith(
                         "\nlast error before the cancel:\ncard declined"));
  EXPECT_EQ(Query("SELECT error_count FROM que_jobs"), "1");
}

// A cancel request whose NOTIFY the pool never heard (sent while its
// listener was connecting: CI once asked before a qg-compatible pool's
// listener had started, and waited 30 s for nothing) is still taken within
// about a second.
TEST_P(ControlTest, CancelRequestWhoseNotifyWasMissedIsStillTaken) {
  if (GetParam() == WorkerMode::kFast) {
    GTEST_SKIP() << "a fast pool listens on its locker session, which holds "
                    "the job's lock: it cannot miss a request while it "
                    "holds the job";
  }
  WorkerPool pool(client_.get(), &work_map_, 1, Options());
  int64_t id = 0;
  ASSERT_NO_FATAL_FAILURE(StartLong(pool, &id));
  // The request as CancelJob writes it (for the run holding the job now),
  // without its NOTIFY.
  Query(
      "INSERT INTO qg_cancellations (job_id, requested_at, run_holder_pid, "
      "run_queue, run_priority, run_run_at, expires_at) SELECT j.job_id, "
      "now(), l.pid, j.queue, j.priority, j.run_at, now() + interval '1 "
      "minute' FROM que_jobs AS j JOIN pg_locks AS l ON l.locktype = "
      "'advisory' AND l.objsubid = 1 AND l.granted AND l.objid = j.job_id "
      "WHERE j.job_id = $1 RETURNING 1",
      {absl::StrCat(id)});
  ASSERT_TRUE(WaitFor([&] { return saw_cancel_ == 1; }, absl::Seconds(5)));
  EXPECT_EQ(Query("SELECT acknowledged_at IS NOT NULL FROM qg_cancellations"),
            "t");
  pool.Shutdown();
}

TEST_P(ControlTest, CancelOfAJobNobodyHoldsKeepsItCancelledAtOnce) {
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t id, client_->Enqueue({.type = "Later",
                                    .run_at = absl::Now() + absl::Hours(1)}));
  QG_ASSERT_OK_AND_ASSIGN(CancelOutcome outcome, client_->CancelJob(id));
  EXPECT_EQ(outcome, CancelOutcome::kCancelled);
  EXPECT_EQ(Query("SELECT run_at >= '9999-01-01' AND last_error LIKE "
                  "'qg: cancelled%' FROM que_jobs"),
            "t");
  QG_ASSERT_OK_AND_ASSIGN(std::vector<JobInfo> dead, client_->DeadJobs());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].id, id);
}

TEST_P(ControlTest, JobHeldByAForeignWorkerIsNotCancellableNow) {
  QG_ASSERT_OK_AND_ASSIGN(int64_t id, client_->Enqueue({.type = "Ruby"}));
  // A Ruby Que or que-go worker holds it (it takes no cancel requests).
  QG_ASSERT_OK_AND_ASSIGN(auto ruby, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK(
      qg::Exec(ruby.get(), "SELECT pg_advisory_lock($1)", {absl::StrCat(id)})
          .status());
  // A pool of ours beside it, which does not hold the job.
  WorkerPool pool(client_.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  EXPECT_THAT(client_->CancelJob(id, absl::Milliseconds(800)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cannot be cancelled while it runs")));
  pool.Shutdown();
  EXPECT_EQ(Query("SELECT run_at < '9999-01-01' FROM que_jobs"), "t");
  EXPECT_EQ(Query("SELECT count(*) FROM qg_cancellations"), "0");
}

TEST_P(ControlTest, BadInputIsClearAndChangesNothing) {
  EXPECT_THAT(client_->CancelJob(424242).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("424242")));
  EXPECT_THAT(client_->PauseQueue(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("queue name is required")));
  EXPECT_EQ(Query("SELECT count(*) FROM qg_queues"), "0");
}

// Counts writes to qg_job_counts.
int64_t CountWrites(PGconn* conn) {
  std::string n = qg_testing::QueryValue(
      conn,
      "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname "
      "= 'qg_job_counts'");
  int64_t v = 0;
  EXPECT_TRUE(absl::SimpleAtoi(n, &v)) << "write count \"" << n << "\"";
  return v;
}

TEST_P(ControlTest, FinishedJobsAreCountedPerMinuteInAFewWrites) {
  work_map_.Register("Count", [](Job& job) {
    return job.args() == "[0]" ? absl::UnavailableError("no")
                               : absl::OkStatus();
  });
  std::vector<NewJob> jobs;
  for (int i = 0; i < 200; ++i) {
    jobs.push_back({.type = "Count", .args = absl::StrCat("[", i % 50, "]")});
  }
  QG_ASSERT_OK(client_->EnqueueMany(jobs).status());
  WorkerPool pool(client_.get(), &work_map_, 4, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] {
    return Query("SELECT count(*) FROM que_jobs WHERE error_count = 0") == "0";
  }));
  pool.Shutdown();
  client_->Close();  // writes the last counts
  EXPECT_EQ(Query("SELECT sum(completed) || '/' || sum(retried) FROM "
                  "qg_job_counts WHERE job_class = 'Count'"),
            "196/4");
  // Written about once a second, not once per job: a few row writes.
  qg_testing::QueryValue(conn_.get(), "SELECT pg_stat_force_next_flush()");
  EXPECT_LT(CountWrites(conn_.get()), 20);
}

// Regression (issue 17, defect 4): a cancel request left behind by a
// requester that was killed while a foreign worker held the job (SIGKILL
// cannot be caught) cancelled the next run of the job in a qg-cpp pool. A
// request belongs to the run it was asked of: a pool hearing of it while it
// runs the job again never takes it, and still takes a live request for
// another job heard after it.
TEST_P(ControlTest, LeftOverCancelRequestOfAnEarlierRunIsNeverTaken) {
  std::atomic<int> later_runs{0}, later_cancelled{0}, other_runs{0};
  std::atomic<int> other_cancelled{0};
  std::atomic<bool> finish{false};
  work_map_.Register("Later", [&](Job& job) -> absl::Status {
    ++later_runs;
    absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (!finish && !job.Cancelled() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (job.Cancelled()) ++later_cancelled;
    return absl::OkStatus();
  });
  work_map_.Register("Other", [&](Job& job) -> absl::Status {
    ++other_runs;
    absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (!job.Cancelled() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (job.Cancelled()) ++other_cancelled;
    return absl::CancelledError("stopped");
  });
  QG_ASSERT_OK_AND_ASSIGN(int64_t later, client_->Enqueue({.type = "Later"}));
  {
    // A Ruby Que or que-go worker runs it; an operator asks to cancel it and
    // is killed while waiting: the request stays, as written for that run
    // (unexpired).
    QG_ASSERT_OK_AND_ASSIGN(auto ruby, qg::Connect(db_->conninfo()));
    QG_ASSERT_OK(qg::Exec(ruby.get(), "SELECT pg_advisory_lock($1)",
                          {absl::StrCat(later)})
                     .status());
    Query(
        "INSERT INTO qg_cancellations (job_id, requested_at, run_holder_pid, "
        "run_queue, run_priority, run_run_at, expires_at) SELECT j.job_id, "
        "now(), $2::int, j.queue, j.priority, j.run_at, now() + interval '1 "
        "hour' FROM que_jobs AS j WHERE j.job_id = $1 RETURNING 1",
        {absl::StrCat(later), absl::StrCat(PQbackendPID(ruby.get()))});
    // Its run ends without finishing the job (the worker died, say).
  }
  QG_ASSERT_OK_AND_ASSIGN(int64_t other, client_->Enqueue({.type = "Other"}));
  WorkerPool pool(client_.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return later_runs == 1 && other_runs == 1; }));
  // What a pool hears when a request for a job it runs is made.
  Query("SELECT pg_notify('qg_control', 'cancel' || E'\\t' || $1)",
        {absl::StrCat(later)});
  // A live request, heard after it: taken.
  QG_ASSERT_OK_AND_ASSIGN(CancelOutcome outcome, client_->CancelJob(other));
  EXPECT_EQ(outcome, CancelOutcome::kStopping);
  ASSERT_TRUE(WaitFor([&] { return other_cancelled == 1; }));
  EXPECT_EQ(later_cancelled, 0);
  EXPECT_EQ(Query("SELECT count(*) FROM qg_cancellations WHERE "
                  "acknowledged_at IS NOT NULL"),
            "0");
  finish = true;
  ASSERT_TRUE(WaitFor([&] {
    return Query("SELECT count(*) FROM que_jobs WHERE job_id = $1",
                 {absl::StrCat(later)}) == "0";
  }));
  pool.Shutdown();
  EXPECT_EQ(later_cancelled, 0);
  EXPECT_EQ(later_runs, 1);
}

}  // namespace
}  // namespace qg
