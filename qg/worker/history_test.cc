// Job history in both worker modes: the record a finished job leaves
// (completed, dead, cancelled) where its queue has history on, written with
// the statement that deletes the job, with its times, attempts, last error
// and output; lookups, revival from a record, retention.
#include "qg/history.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/admin.h"
#include "qg/client.h"
#include "qg/status_macros.h"
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
using ::testing::Optional;

class HistoryTest : public qg_testing::DatabaseTest,
                    public ::testing::WithParamInterface<WorkerMode> {
 protected:
  HistoryTest() : DatabaseTest({.max_conns = 8}) {}
  void SetUp() override {
    DatabaseTest::SetUp();
    QG_ASSERT_OK_AND_ASSIGN(admin_,
                            Admin::Connect({.conninfo = db_->conninfo()}));
    QG_ASSERT_OK(admin_->SetHistory("h", true));
  }
  WorkerOptions Options(const std::string& queue = "h") const {
    WorkerOptions options;
    options.mode = GetParam();
    options.interval = absl::Milliseconds(20);
    options.queue = queue;
    return options;
  }
  // The job's lookup once it has left que_jobs.
  JobLookup Finished(int64_t id) {
    EXPECT_TRUE(
        WaitFor([&] { return CountJobs(absl::StrCat("job_id = ", id)) == 0; }));
    absl::StatusOr<JobLookup> j = client_->GetJob(id);
    EXPECT_TRUE(j.ok()) << j.status();
    return j.ok() ? *j : JobLookup{};
  }
  std::unique_ptr<Admin> admin_;
  WorkMap work_map_;
};

INSTANTIATE_TEST_SUITE_P(Modes, HistoryTest, qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

TEST_P(HistoryTest, CompletedJobLeavesARecordWithItsOutputAndTimes) {
  work_map_.Register("Report", [](Job& job) -> absl::Status {
    absl::SleepFor(absl::Milliseconds(60));
    return job.SetOutput(absl::StrCat("{\"report\": ", job.id(), "}"));
  });
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t id,
      client_->Enqueue(
          {.type = "Report", .args = "[7]", .queue = "h", .priority = 5}));
  absl::Time before = absl::Now();
  WorkerPool pool(client_.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  JobLookup j = Finished(id);
  pool.Shutdown();
  ASSERT_EQ(j.phase, JobPhase::kFinished);
  ASSERT_TRUE(j.finished.has_value());
  const FinishedJob& f = *j.finished;
  EXPECT_EQ(f.id, id);
  EXPECT_EQ(f.queue, "h");
  EXPECT_EQ(f.type, "Report");
  EXPECT_EQ(f.priority, 5);
  EXPECT_EQ(f.args, "[7]");
  EXPECT_EQ(f.outcome, JobOutcome::kCompleted);
  EXPECT_EQ(f.attempts, 1);
  EXPECT_EQ(f.last_error, std::nullopt);
  EXPECT_THAT(f.output, Optional(absl::StrCat("{\"report\": ", id, "}")));
  ASSERT_TRUE(f.enqueued_at && f.first_started_at && f.started_at &&
              f.run_time);
  // Times on the database's clock, in order; the run as long as the
  // handler slept (and no longer than the test waited).
  EXPECT_LE(*f.enqueued_at, *f.first_started_at);
  EXPECT_EQ(*f.first_started_at, *f.started_at);
  EXPECT_LT(*f.started_at, f.finished_at);
  EXPECT_GE(*f.run_time, absl::Milliseconds(59));
  EXPECT_LE(*f.run_time, absl::Now() - before + absl::Milliseconds(1));
  EXPECT_NEAR(absl::ToDoubleSeconds(f.finished_at - *f.started_at),
              absl::ToDoubleSeconds(*f.run_time), 0.002);
}

TEST_P(HistoryTest, QueueWithoutHistoryLeavesNoRecord) {
  work_map_.Register("Plain", [](Job&) { return absl::OkStatus(); });
  QG_ASSERT_OK_AND_ASSIGN(int64_t id,
                          client_->Enqueue({.type = "Plain", .queue = "x"}));
  WorkerPool pool(client_.get(), &work_map_, 1, Options("x"));
  QG_ASSERT_OK(pool.Start());
  JobLookup j = Finished(id);
  pool.Shutdown();
  EXPECT_EQ(j.phase, JobPhase::kUnknown);
  EXPECT_EQ(Query("SELECT count(*) FROM qg_job_history"), "0");
  // The default for every queue, and a queue's own setting over it.
  QG_ASSERT_OK(admin_->SetHistoryDefault(true));
  QG_ASSERT_OK(admin_->SetHistory("x", false));
  QG_ASSERT_OK_AND_ASSIGN(HistorySettings s, admin_->GetHistorySettings());
  EXPECT_TRUE(s.all_queues);
  EXPECT_TRUE(s.on("h"));
  EXPECT_FALSE(s.on("x"));
  EXPECT_TRUE(s.on("y"));
  EXPECT_EQ(s.keep, absl::Hours(24 * 7));
  EXPECT_EQ(s.max_records, 1000000);
}

TEST_P(HistoryTest, RetriedJobKeepsItsFirstStartAndTheErrorBeforeItsSuccess) {
  std::atomic<int> runs{0};
  work_map_.Register("Flaky", [&](Job&) -> absl::Status {
    if (++runs == 1) return absl::UnavailableError("first try fails");
    return absl::OkStatus();
  });
  QG_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Client> fast_retry,
      NewClient({.backoff = [](int32_t) { return absl::Milliseconds(200); }}));
  QG_ASSERT_OK_AND_ASSIGN(int64_t id,
                          fast_retry->Enqueue({.type = "Flaky", .queue = "h"}));
  WorkerPool pool(fast_retry.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  JobLookup j = Finished(id);
  pool.Shutdown();
  ASSERT_EQ(j.phase, JobPhase::kFinished);
  const FinishedJob& f = *j.finished;
  EXPECT_EQ(f.attempts, 2);
  EXPECT_THAT(f.last_error, Optional(std::string("first try fails")));
  ASSERT_TRUE(f.first_started_at && f.started_at);
  // The second run waited out the 200 ms backoff. Both starts are stored
  // as the database's now() minus the time since the handler started,
  // measured when the statement was built; a busy machine delays the
  // statement, which moves the first start later by that much (30 ms seen
  // in a full test run), so allow for it.
  EXPECT_GE(*f.started_at - *f.first_started_at, absl::Milliseconds(120));
}

TEST_P(HistoryTest, DeadJobLeavesTheQueueAndRetryBringsItBack) {
  std::atomic<int> runs{0};
  work_map_.Register("Doomed", [&](Job&) -> absl::Status {
    if (++runs == 1) return absl::InternalError("out of luck");
    return absl::OkStatus();
  });
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> once,
                          NewClient({.max_attempts = 1}));
  QG_ASSERT_OK_AND_ASSIGN(int64_t id, once->Enqueue({.type = "Doomed",
                                                     .args = "{\"a\":1}",
                                                     .queue = "h",
                                                     .limit_key = "k1"}));
  WorkerPool pool(once.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  JobLookup j = Finished(id);
  ASSERT_EQ(j.phase, JobPhase::kFinished);
  EXPECT_EQ(j.finished->outcome, JobOutcome::kDead);
  EXPECT_EQ(j.finished->attempts, 1);
  EXPECT_THAT(j.finished->last_error,
              Optional(HasSubstr("dead after 1 attempts: out of luck")));
  EXPECT_EQ(CountJobs(), 0);
  // Retried from its record: the same id, args and key, its attempts back;
  // it runs again and completes.
  QG_ASSERT_OK(once->RetryJob(id));
  j = Finished(id);
  pool.Shutdown();
  EXPECT_EQ(runs, 2);
  ASSERT_EQ(j.phase, JobPhase::kFinished);
  EXPECT_EQ(j.finished->outcome, JobOutcome::kCompleted);
  EXPECT_EQ(j.finished->attempts, 1);
  EXPECT_EQ(j.finished->args, "{\"a\":1}");
  EXPECT_EQ(Query("SELECT limit_key FROM qg_job_history WHERE job_id = $1",
                  {absl::StrCat(id)}),
            "k1");
  // A completed job stays finished.
  EXPECT_THAT(once->RetryJob(id), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(HistoryTest, CancelledJobsWaitingAndRunningAreRecorded) {
  std::atomic<int> runs{0};
  work_map_.Register("Long", [&](Job& job) -> absl::Status {
    ++runs;
    absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (!job.Cancelled() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return absl::CancelledError("stopped");
  });
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t later,
      client_->Enqueue({.type = "Long",
                        .queue = "h",
                        .run_at = absl::Now() + absl::Hours(1)}));
  QG_ASSERT_OK_AND_ASSIGN(CancelOutcome outcome, client_->CancelJob(later));
  EXPECT_EQ(outcome, CancelOutcome::kCancelled);
  QG_ASSERT_OK_AND_ASSIGN(JobLookup j, client_->GetJob(later));
  ASSERT_EQ(j.phase, JobPhase::kFinished);
  EXPECT_EQ(j.finished->outcome, JobOutcome::kCancelled);
  EXPECT_EQ(j.finished->attempts, 0);
  EXPECT_EQ(j.finished->started_at, std::nullopt);
  EXPECT_THAT(j.finished->last_error, Optional(HasSubstr("qg: cancelled")));

  QG_ASSERT_OK_AND_ASSIGN(int64_t now,
                          client_->Enqueue({.type = "Long", .queue = "h"}));
  WorkerPool pool(client_.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return runs == 1; }));
  QG_ASSERT_OK_AND_ASSIGN(JobLookup running, client_->GetJob(now));
  EXPECT_EQ(running.phase, JobPhase::kRunning);
  QG_ASSERT_OK(client_->CancelJob(now).status());
  j = Finished(now);
  pool.Shutdown();
  ASSERT_EQ(j.phase, JobPhase::kFinished);
  EXPECT_EQ(j.finished->outcome, JobOutcome::kCancelled);
  EXPECT_EQ(j.finished->attempts, 1);
  EXPECT_TRUE(j.finished->started_at.has_value());
  // Revived from its record like a dead one.
  QG_ASSERT_OK_AND_ASSIGN(RetriedJob r, admin_->RetryJobDetailed(later));
  EXPECT_TRUE(r.was_cancelled);
  QG_ASSERT_OK_AND_ASSIGN(j, client_->GetJob(later));
  EXPECT_EQ(j.phase, JobPhase::kWaiting);
}

TEST_P(HistoryTest, SetOutputRefusesWhatIsNotJsonOrTooLarge) {
  std::vector<absl::Status> seen;
  work_map_.Register("Out", [&](Job& job) -> absl::Status {
    seen.push_back(job.SetOutput("{\"a\": 1"));
    seen.push_back(job.SetOutput("\"\xff\""));
    seen.push_back(job.SetOutput(
        absl::StrCat("\"", std::string(kMaxOutputBytes, 'x'), "\"")));
    seen.push_back(job.SetOutput("[1, 2]"));
    QG_RETURN_IF_ERROR(job.Delete());
    seen.push_back(job.SetOutput("3"));
    return absl::OkStatus();
  });
  QG_ASSERT_OK_AND_ASSIGN(int64_t id,
                          client_->Enqueue({.type = "Out", .queue = "h"}));
  WorkerPool pool(client_.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  JobLookup j = Finished(id);
  pool.Shutdown();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_THAT(seen[0],
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JSON")));
  EXPECT_THAT(seen[1], StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(seen[2], StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("bytes; at most")));
  QG_EXPECT_OK(seen[3]);
  EXPECT_THAT(seen[4], StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_EQ(j.phase, JobPhase::kFinished);
  EXPECT_THAT(j.finished->output, Optional(std::string("[1, 2]")));
}

// A record exists if and only if its job is gone, also when the sessions
// that hold and finish the jobs are terminated mid-drain.
TEST_P(HistoryTest, RecordIfAndOnlyIfGoneAcrossTerminatedSessions) {
  std::atomic<int> runs{0};
  work_map_.Register("Many", [&](Job& job) -> absl::Status {
    ++runs;
    return job.SetOutput(absl::StrCat(job.id()));
  });
  constexpr int kJobs = 3000;
  std::vector<NewJob> jobs(kJobs, NewJob{.type = "Many", .queue = "h"});
  QG_ASSERT_OK(client_->EnqueueMany(jobs).status());
  WorkerPool pool(client_.get(), &work_map_, 8, Options());
  QG_ASSERT_OK(pool.Start());
  for (int kill = 0; kill < 3; ++kill) {
    ASSERT_TRUE(WaitFor([&] { return runs >= (kill + 1) * kJobs / 5; }));
    Query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'");
    // Never both, at any instant.
    EXPECT_EQ(Query("SELECT count(*) FROM que_jobs AS j JOIN qg_job_history "
                    "AS h USING (job_id)"),
              "0");
  }
  ASSERT_TRUE(WaitFor([&] { return CountJobs() == 0; }, absl::Seconds(60)));
  pool.Shutdown();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM qg_job_history"), kJobs);
  EXPECT_EQ(Query("SELECT count(*) FROM qg_job_history "
                  "WHERE output::text <> job_id::text OR outcome <> "
                  "'completed'"),
            "0");
  EXPECT_GE(runs, kJobs);
}

TEST_P(HistoryTest, RetentionPrunesOldAndSurplusRecords) {
  Query(
      "INSERT INTO qg_job_history (job_id, queue, priority, job_class, "
      "args, outcome, attempts, finished_at) "
      "SELECT i, 'h', 100, 'Old', '[]', 'completed', 1, "
      "now() - i * interval '1 hour' FROM generate_series(1, 30) AS i");
  QG_ASSERT_OK(admin_->SetHistoryRetention(absl::Hours(20), 10));
  // Analyzed: the estimate that decides whether counting pays is known.
  Query("ANALYZE qg_job_history");
  QG_ASSERT_OK_AND_ASSIGN(int64_t pruned, admin_->PruneHistory());
  EXPECT_EQ(pruned, 20);
  EXPECT_EQ(Query("SELECT string_agg(job_id::text, ',' ORDER BY job_id) "
                  "FROM qg_job_history"),
            "1,2,3,4,5,6,7,8,9,10");
  QG_ASSERT_OK(admin_->SetHistoryRetention(absl::Minutes(150), std::nullopt));
  QG_ASSERT_OK_AND_ASSIGN(pruned, admin_->PruneHistory());
  EXPECT_EQ(pruned, 8);
  EXPECT_THAT(admin_->SetHistoryRetention(absl::Hours(-1), 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(admin_->SetHistoryRetention(absl::Hours(24 * 365 * 1001), 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(admin_->SetHistoryRetention(std::nullopt, -1),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Without a settings row (history turned on per queue only), the stated
// defaults apply: 7 days. Records finished at the same instant are kept or
// pruned by id: max_records is exact.
TEST_P(HistoryTest, RetentionDefaultsAndTiesAreExact) {
  Query("DELETE FROM qg_history_settings RETURNING 1");
  Query(
      "INSERT INTO qg_job_history (job_id, queue, priority, job_class, "
      "args, outcome, attempts, finished_at) "
      "SELECT i, 'h', 100, 'T', '[]', 'completed', 1, "
      "CASE WHEN i <= 3 THEN now() - interval '8 days' "
      "ELSE now() - (i / 2) * interval '1 minute' END "
      "FROM generate_series(1, 8) AS i");
  QG_ASSERT_OK_AND_ASSIGN(int64_t pruned, admin_->PruneHistory());
  EXPECT_EQ(pruned, 3);
  // 4,5 at 2 minutes ago, 6,7 at 3, 8 at 4: keep the newest 3 exactly.
  QG_ASSERT_OK(admin_->SetHistoryRetention(std::nullopt, 3));
  Query("ANALYZE qg_job_history");
  QG_ASSERT_OK_AND_ASSIGN(pruned, admin_->PruneHistory());
  EXPECT_EQ(pruned, 2);
  EXPECT_EQ(Query("SELECT string_agg(job_id::text, ',' ORDER BY job_id) "
                  "FROM qg_job_history"),
            "4,5,7");
}

// A dead unique job that history moves out frees its key; brought back,
// it takes the key again, unless another job holds it now: then the retry
// fails and the record stays.
TEST_P(HistoryTest, RevivedUniqueJobTakesItsKeyBackOrStaysARecord) {
  work_map_.Register("Once", [](Job&) { return absl::InternalError("no"); });
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> once,
                          NewClient({.max_attempts = 1}));
  NewJob unique{.type = "Once", .queue = "h", .unique = UniqueOpts{.key = "K"}};
  QG_ASSERT_OK_AND_ASSIGN(int64_t first, once->Enqueue(unique));
  WorkerPool pool(once.get(), &work_map_, 1, Options());
  QG_ASSERT_OK(pool.Start());
  EXPECT_EQ(Finished(first).phase, JobPhase::kFinished);
  pool.Shutdown();
  QG_ASSERT_OK_AND_ASSIGN(int64_t second, once->Enqueue(unique));
  EXPECT_NE(second, first);
  EXPECT_FALSE(once->RetryJob(first).ok());
  EXPECT_EQ(QueryInt(absl::StrCat(
                "SELECT count(*) FROM qg_job_history WHERE job_id = ", first)),
            1);
  Query(absl::StrCat("DELETE FROM que_jobs WHERE job_id = ", second,
                     " RETURNING 1"));
  QG_ASSERT_OK(once->RetryJob(first));
  EXPECT_EQ(Query(absl::StrCat(
                "SELECT qg_unique_key FROM que_jobs WHERE job_id = ", first)),
            "K");
}

TEST_P(HistoryTest, ListsRecordsNewestFirstWithFilters) {
  Query(
      "INSERT INTO qg_job_history (job_id, queue, priority, job_class, "
      "args, outcome, attempts, finished_at, last_error) "
      "SELECT i, CASE WHEN i % 2 = 0 THEN 'h' ELSE 'x' END, 100, "
      "CASE WHEN i % 3 = 0 THEN 'A' ELSE 'B' END, '[]', "
      "CASE WHEN i % 5 = 0 THEN 'dead' ELSE 'completed' END, 1, "
      "now() - i * interval '1 minute', "
      "CASE WHEN i % 5 = 0 THEN E'boom\\nstack' END "
      "FROM generate_series(1, 40) AS i");
  HistoryFilter all;
  std::vector<int64_t> ids;
  std::optional<HistoryCursor> after;
  do {
    QG_ASSERT_OK_AND_ASSIGN(HistoryPage page,
                            admin_->ListHistory(all, 7, after));
    for (const FinishedJob& f : page.jobs) ids.push_back(f.id);
    after = page.next;
  } while (after.has_value());
  ASSERT_EQ(ids.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(ids[i], i + 1);
  HistoryFilter dead{.queue = "x", .outcome = JobOutcome::kDead};
  QG_ASSERT_OK_AND_ASSIGN(HistoryPage page, admin_->ListHistory(dead, 100));
  ASSERT_EQ(page.jobs.size(), 4u);  // 5, 15, 25, 35
  EXPECT_EQ(page.jobs[0].id, 5);
  EXPECT_THAT(page.jobs[0].last_error, Optional(std::string("boom")));
  HistoryFilter window{
      .type = "A",
      .finished_from = absl::Now() - absl::Minutes(10) - absl::Seconds(30),
      .finished_before = absl::Now() - absl::Seconds(30)};
  QG_ASSERT_OK_AND_ASSIGN(page, admin_->ListHistory(window, 100));
  std::vector<int64_t> got;
  for (const FinishedJob& f : page.jobs) got.push_back(f.id);
  EXPECT_THAT(got, ::testing::ElementsAre(3, 6, 9));
  QG_ASSERT_OK_AND_ASSIGN(
      HistoryCursor c,
      HistoryCursor::Decode(
          HistoryCursor{"2026-12-06 21:00:00.5+00", 42}.Encode()));
  EXPECT_EQ(c.id, 42);
  EXPECT_THAT(HistoryCursor::Decode("x"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// A job whose key changed while it ran (an operator moved its priority)
// is finished by id, its record written all the same: completed, and dead.
TEST_P(HistoryTest, JobsWhoseKeyChangedWhileTheyRanAreRecorded) {
  std::atomic<int> started{0};
  std::atomic<bool> go{false};
  work_map_.Register("Moved", [&](Job& job) -> absl::Status {
    ++started;
    while (!go) absl::SleepFor(absl::Milliseconds(2));
    QG_RETURN_IF_ERROR(job.SetOutput("\"moved\""));
    if (job.args() == "[\"fail\"]")
      return absl::InternalError("moved and failed");
    return absl::OkStatus();
  });
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> once,
                          NewClient({.max_attempts = 1}));
  QG_ASSERT_OK_AND_ASSIGN(int64_t ok_id,
                          once->Enqueue({.type = "Moved", .queue = "h"}));
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t fail_id,
      once->Enqueue({.type = "Moved", .args = "[\"fail\"]", .queue = "h"}));
  WorkerPool pool(once.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return started == 2; }));
  Query("UPDATE que_jobs SET priority = 7 WHERE queue = 'h' RETURNING 1");
  go = true;
  JobLookup ok = Finished(ok_id);
  JobLookup failed = Finished(fail_id);
  pool.Shutdown();
  ASSERT_EQ(ok.phase, JobPhase::kFinished);
  EXPECT_EQ(ok.finished->outcome, JobOutcome::kCompleted);
  EXPECT_EQ(ok.finished->priority, 7);
  EXPECT_THAT(ok.finished->output, Optional(std::string("\"moved\"")));
  ASSERT_EQ(failed.phase, JobPhase::kFinished);
  EXPECT_EQ(failed.finished->outcome, JobOutcome::kDead);
  EXPECT_THAT(failed.finished->last_error,
              Optional(HasSubstr("moved and failed")));
}

// Turning history on or off while a pool runs: the next job finished after
// the change is recorded (or not), whichever statement the pool sends (it
// writes history-free while it saw history off, and those statements check
// that it still is).
TEST_P(HistoryTest, TurningHistoryOnAndOffTakesEffectWithTheNextJob) {
  work_map_.Register("Tick", [](Job&) { return absl::OkStatus(); });
  WorkerPool pool(client_.get(), &work_map_, 1, Options("t"));
  QG_ASSERT_OK(pool.Start());
  auto run = [&]() -> int64_t {
    absl::StatusOr<int64_t> id =
        client_->Enqueue({.type = "Tick", .queue = "t"});
    EXPECT_TRUE(id.ok());
    EXPECT_TRUE(WaitFor(
        [&] { return CountJobs(absl::StrCat("job_id = ", *id)) == 0; }));
    return id.value_or(0);
  };
  auto recorded = [&](int64_t id) {
    return QueryInt(absl::StrCat(
               "SELECT count(*) FROM qg_job_history WHERE job_id = ", id)) == 1;
  };
  std::vector<int64_t> off_ids = {run(), run(), run()};
  QG_ASSERT_OK(admin_->SetHistory("t", true));
  int64_t on_id = run();
  QG_ASSERT_OK(admin_->SetHistory("t", false));
  int64_t off_again = run();
  pool.Shutdown();
  for (int64_t id : off_ids) EXPECT_FALSE(recorded(id)) << id;
  EXPECT_TRUE(recorded(on_id));
  EXPECT_FALSE(recorded(off_again));
}

}  // namespace
}  // namespace qg
