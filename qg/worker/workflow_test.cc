// Workflows in both worker modes: a child waits (invisible to every
// worker, Ruby Que's and que-go's lock query included) until its last
// parent completed, and is released by the statement that completes it; a
// parent that dies or is cancelled cancels its descendants (or, when asked,
// lets them run); enqueue-time errors; parents' outputs.
#include "qg/workflow.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/admin.h"
#include "qg/client.h"
#include "qg/internal/sync.h"
#include "qg/status_macros.h"
#include "qg/testing/database_test.h"
#include "qg/testing/gate.h"
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

// What Ruby Que 0.x and que-go send to lock a job (que-go's sqlLockJob).
constexpr char kQueLockJob[] = R"sql(
WITH RECURSIVE jobs AS (
  SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
  FROM (
    SELECT j FROM que_jobs AS j
    WHERE queue = $1::text AND run_at <= now()
    ORDER BY priority, run_at, job_id LIMIT 1
  ) AS t1
  UNION ALL (
    SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
    FROM (
      SELECT (
        SELECT j FROM que_jobs AS j
        WHERE queue = $1::text AND run_at <= now()
        AND (priority, run_at, job_id) > (jobs.priority, jobs.run_at, jobs.job_id)
        ORDER BY priority, run_at, job_id LIMIT 1
      ) AS j
      FROM jobs WHERE jobs.job_id IS NOT NULL LIMIT 1
    ) AS t1
  )
)
SELECT job_id FROM jobs WHERE locked LIMIT 1)sql";

// The order in which jobs started and ended, by type.
class Trace {
 public:
  void Start(const std::string& type) { Log("start " + type); }
  void End(const std::string& type) { Log("end " + type); }
  // Place of `event` in the log, -1 if absent.
  int At(const std::string& event) {
    qg::internal::MutexLock lock(mu_);
    auto it = std::find(log_.begin(), log_.end(), event);
    return it == log_.end() ? -1 : static_cast<int>(it - log_.begin());
  }
  int Count(const std::string& event) {
    qg::internal::MutexLock lock(mu_);
    return static_cast<int>(std::count(log_.begin(), log_.end(), event));
  }

 private:
  void Log(std::string event) {
    qg::internal::MutexLock lock(mu_);
    log_.push_back(std::move(event));
  }
  qg::internal::Mutex mu_;
  std::vector<std::string> log_;
};

class WorkflowTest : public qg_testing::DatabaseTest,
                     public ::testing::WithParamInterface<WorkerMode> {
 protected:
  WorkflowTest() : DatabaseTest({.max_conns = 8, .max_attempts = 1}) {}
  WorkerOptions Options(const std::string& queue = "w") const {
    WorkerOptions options;
    options.mode = GetParam();
    options.interval = absl::Milliseconds(20);
    options.queue = queue;
    return options;
  }
  // Registers `type`: traced, sleeps `sleep`, fails when `fail`.
  void Handler(const std::string& type, bool fail = false,
               absl::Duration sleep = absl::Milliseconds(30)) {
    work_map_.Register(type, [this, type, fail, sleep](Job&) -> absl::Status {
      trace_.Start(type);
      absl::SleepFor(sleep);
      trace_.End(type);
      if (fail) return absl::InternalError(type + " failed");
      return absl::OkStatus();
    });
  }
  std::string Column(int64_t id, const std::string& column) {
    return Query(absl::StrCat("SELECT ", column,
                              "::text FROM que_jobs WHERE job_id = ", id));
  }
  WorkMap work_map_;
  Trace trace_;
};

INSTANTIATE_TEST_SUITE_P(Modes, WorkflowTest, qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

TEST_P(WorkflowTest, DiamondRunsEachChildAfterAllItsParents) {
  for (const char* t : {"A", "B", "C", "D"}) Handler(t);
  Workflow w;
  size_t a = w.Add({.type = "A", .queue = "w"});
  size_t b = w.Add({.type = "B", .queue = "w"}, {a});
  size_t c = w.Add({.type = "C", .queue = "w"}, {a});
  w.Add({.type = "D", .queue = "w"}, {b, c});
  QG_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids,
                          client_->EnqueueWorkflow(w));
  ASSERT_EQ(ids.size(), 4u);
  // Waiting children: run_at far ahead, counted parents.
  EXPECT_EQ(Column(ids[1], "run_at"), "9000-01-01 00:00:00+00");
  EXPECT_EQ(Column(ids[3], "qg_parents_left"), "2");
  WorkerPool pool(client_.get(), &work_map_, 4, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return CountJobs() == 0; }, absl::Seconds(20)));
  pool.Shutdown();
  for (const char* t : {"A", "B", "C", "D"}) {
    EXPECT_EQ(trace_.Count(absl::StrCat("start ", t)), 1) << t;
  }
  EXPECT_LT(trace_.At("end A"), trace_.At("start B"));
  EXPECT_LT(trace_.At("end A"), trace_.At("start C"));
  EXPECT_LT(trace_.At("end B"), trace_.At("start D"));
  EXPECT_LT(trace_.At("end C"), trace_.At("start D"));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM qg_job_deps"), 0)
      << "edges of finished children without records are removed";
}

TEST_P(WorkflowTest, DeadParentCancelsItsDescendantsByDefault) {
  Handler("A");
  Handler("B");
  Handler("C", /*fail=*/true);
  Handler("D");
  Handler("E");
  Workflow w;
  size_t a = w.Add({.type = "A", .queue = "w"});
  size_t b = w.Add({.type = "B", .queue = "w"}, {a});
  size_t c = w.Add({.type = "C", .queue = "w"}, {a});
  size_t d = w.Add({.type = "D", .queue = "w"}, {b, c});
  w.Add({.type = "E", .queue = "w"}, {d});
  QG_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids,
                          client_->EnqueueWorkflow(w));
  WorkerPool pool(client_.get(), &work_map_, 4, Options());
  QG_ASSERT_OK(pool.Start());
  // A and B complete; C dies (max_attempts 1); D and E are cancelled.
  ASSERT_TRUE(WaitFor([&] { return CountJobs("run_at >= '9999-01-01'") == 3; },
                      absl::Seconds(20)));
  ASSERT_TRUE(WaitFor([&] { return CountJobs() == 3; }, absl::Seconds(20)));
  absl::SleepFor(absl::Milliseconds(200));
  pool.Shutdown();
  EXPECT_EQ(trace_.Count("start D"), 0);
  EXPECT_EQ(trace_.Count("start E"), 0);
  EXPECT_THAT(
      Column(ids[3], "last_error"),
      HasSubstr(absl::StrCat("qg: cancelled: parent job ", ids[2], " dead")));
  EXPECT_THAT(Column(ids[4], "last_error"),
              HasSubstr(absl::StrCat("qg: cancelled: parent job ", ids[3],
                                     " cancelled")));
  QG_ASSERT_OK_AND_ASSIGN(std::vector<ParentJob> parents,
                          client_->GetParents(ids[3]));
  ASSERT_EQ(parents.size(), 2u);
  EXPECT_EQ(parents[0].id, ids[1]);
  EXPECT_EQ(parents[0].state, ParentJob::State::kCompleted);
  EXPECT_EQ(parents[1].id, ids[2]);
  EXPECT_EQ(parents[1].state, ParentJob::State::kFailed);
}

TEST_P(WorkflowTest, ParentFailureCanLetTheChildRun) {
  Handler("A", /*fail=*/true);
  Handler("B");
  Handler("C");
  QG_ASSERT_OK_AND_ASSIGN(int64_t a,
                          client_->Enqueue({.type = "A", .queue = "w"}));
  QG_ASSERT_OK_AND_ASSIGN(int64_t b,
                          client_->Enqueue({.type = "B", .queue = "w"}));
  NewJob c{.type = "C", .queue = "w"};
  c.depends_on = {a, b};
  c.on_parent_failure = NewJob::OnParentFailure::kRun;
  QG_ASSERT_OK(client_->Enqueue(c).status());
  WorkerPool pool(client_.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(
      WaitFor([&] { return trace_.Count("end C") == 1; }, absl::Seconds(20)));
  pool.Shutdown();
  EXPECT_LT(trace_.At("end A"), trace_.At("start C"));
  EXPECT_LT(trace_.At("end B"), trace_.At("start C"));
}

TEST_P(WorkflowTest, ManyParentsCompletingAtOnceReleaseTheChildOnce) {
  std::atomic<int> parents_done{0};
  std::atomic<int> seen_at_child{-1};
  std::atomic<int> child_runs{0};
  work_map_.Register("Parent", [&](Job&) {
    parents_done.fetch_add(1);
    return absl::OkStatus();
  });
  work_map_.Register("Child", [&](Job&) {
    seen_at_child.store(parents_done.load());
    child_runs.fetch_add(1);
    return absl::OkStatus();
  });
  constexpr int kParents = 300;
  Workflow w;
  std::vector<size_t> all;
  for (int i = 0; i < kParents; ++i) {
    all.push_back(w.Add({.type = "Parent", .queue = "w"}));
  }
  w.Add({.type = "Child", .queue = "w"}, all);
  QG_ASSERT_OK(client_->EnqueueWorkflow(w).status());
  WorkerPool pool(client_.get(), &work_map_, 8, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return CountJobs() == 0; }, absl::Seconds(30)));
  pool.Shutdown();
  EXPECT_EQ(child_runs.load(), 1);
  EXPECT_EQ(seen_at_child.load(), kParents);
}

TEST_P(WorkflowTest, QueLockQueryNeverTakesAWaitingChild) {
  QG_ASSERT_OK_AND_ASSIGN(int64_t parent,
                          client_->Enqueue({.type = "P", .queue = "w"}));
  NewJob child{.type = "C", .queue = "w", .priority = 1};
  child.depends_on = {parent};
  QG_ASSERT_OK_AND_ASSIGN(int64_t child_id, client_->Enqueue(child));
  // The child sorts first (priority 1), yet a Que worker takes the parent.
  EXPECT_EQ(Query(kQueLockJob, {std::string("w")}), absl::StrCat(parent));
  Query("SELECT pg_advisory_unlock_all()::text");
  // A Que worker completes the parent its way (DELETE by key).
  Query(absl::StrCat("DELETE FROM que_jobs WHERE job_id = ", parent,
                     " RETURNING job_id"));
  EXPECT_EQ(Query(kQueLockJob, {std::string("w")}), absl::StrCat(child_id));
  Query("SELECT pg_advisory_unlock_all()::text");
}

TEST_P(WorkflowTest, EnqueueRefusesBadParents) {
  NewJob orphan{.type = "C", .queue = "w"};
  orphan.depends_on = {987654321};
  EXPECT_THAT(client_->Enqueue(orphan),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("987654321")));
  // A dead parent.
  QG_ASSERT_OK_AND_ASSIGN(int64_t dead,
                          client_->Enqueue({.type = "X", .queue = "w"}));
  Query(absl::StrCat("UPDATE que_jobs SET run_at = '9999-01-01', last_error ",
                     "= 'qg: dead after 1 attempt' WHERE job_id = ", dead,
                     " RETURNING job_id"));
  NewJob late{.type = "C", .queue = "w"};
  late.depends_on = {dead};
  EXPECT_THAT(
      client_->Enqueue(late),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is dead")));
  NewJob unique{.type = "C", .queue = "w"};
  unique.depends_on = {dead};
  unique.unique = UniqueOpts{};
  EXPECT_THAT(client_->Enqueue(unique),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      client_->EnqueueStream([&](NewJob& j) {
        j = late;
        return true;
      }),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("depends_on")));
  Workflow w;
  w.Add({.type = "A", .queue = "w"}, {1});
  EXPECT_THAT(client_->EnqueueWorkflow(w),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a job added before it")));
  // Nothing of the failed calls was stored.
  EXPECT_EQ(CountJobs(), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM qg_job_deps"), 0);
}

TEST_P(WorkflowTest, ChildReadsItsParentsOutputsAndACompletedParentCounts) {
  QG_ASSERT_OK_AND_ASSIGN(auto admin,
                          Admin::Connect({.conninfo = db_->conninfo()}));
  QG_ASSERT_OK(admin->SetHistory("w", true));
  work_map_.Register("Parent", [](Job& job) {
    return job.SetOutput(absl::StrCat("{\"from\": ", job.id(), "}"));
  });
  std::vector<ParentJob> seen;
  qg::internal::Mutex mu;
  work_map_.Register("Child", [&](Job& job) -> absl::Status {
    absl::StatusOr<std::vector<ParentJob>> p = client_->GetParents(job.id());
    if (!p.ok()) return p.status();
    qg::internal::MutexLock lock(mu);
    seen = *p;
    return absl::OkStatus();
  });
  QG_ASSERT_OK_AND_ASSIGN(int64_t first,
                          client_->Enqueue({.type = "Parent", .queue = "w"}));
  WorkerPool pool(client_.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return CountJobs() == 0; }));
  // `first` completed already (its record says so); `second` is waiting.
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t second,
      client_->Enqueue({.type = "Parent",
                        .queue = "w",
                        .run_at = absl::Now() + absl::Seconds(1)}));
  NewJob child{.type = "Child", .queue = "w"};
  child.depends_on = {first, second};
  QG_ASSERT_OK(client_->Enqueue(child).status());
  ASSERT_TRUE(WaitFor([&] { return CountJobs() == 0; }, absl::Seconds(20)));
  pool.Shutdown();
  qg::internal::MutexLock lock(mu);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].id, first);
  EXPECT_EQ(seen[0].state, ParentJob::State::kCompleted);
  EXPECT_THAT(seen[0].output,
              Optional(absl::StrCat("{\"from\": ", first, "}")));
  EXPECT_EQ(seen[1].id, second);
  EXPECT_THAT(seen[1].output,
              Optional(absl::StrCat("{\"from\": ", second, "}")));
}

// The parent's row changes (it is marked as a parent) while a worker runs
// it: the statement that completes it still finds it, and releases the
// child.
TEST_P(WorkflowTest, ChildEnqueuedWhileItsParentRuns) {
  qg_testing::Gate started;
  qg_testing::Gate release;
  qg_testing::OpenOnExit released(release);
  work_map_.Register("P", [&](Job&) {
    started.Open();
    release.Wait();
    trace_.End("P");
    return absl::OkStatus();
  });
  Handler("C");
  QG_ASSERT_OK_AND_ASSIGN(int64_t parent,
                          client_->Enqueue({.type = "P", .queue = "w"}));
  WorkerPool pool(client_.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  started.Wait();
  NewJob child{.type = "C", .queue = "w"};
  child.depends_on = {parent};
  QG_ASSERT_OK(client_->Enqueue(child).status());
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(trace_.Count("start C"), 0);
  release.Open();
  ASSERT_TRUE(WaitFor([&] { return CountJobs() == 0; }, absl::Seconds(20)));
  pool.Shutdown();
  EXPECT_LT(trace_.At("end P"), trace_.At("start C"));
}

// Found by review: Admin::RetryJobs over a queue's scheduled jobs made a
// waiting child runnable before its parent ran.
TEST_P(WorkflowTest, BulkRetryLeavesWaitingChildrenWaiting) {
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t parent,
      client_->Enqueue(
          {.type = "P", .queue = "w", .run_at = absl::Now() + absl::Hours(1)}));
  NewJob child{.type = "C", .queue = "w"};
  child.depends_on = {parent};
  QG_ASSERT_OK_AND_ASSIGN(int64_t child_id, client_->Enqueue(child));
  QG_ASSERT_OK_AND_ASSIGN(auto admin,
                          Admin::Connect({.conninfo = db_->conninfo()}));
  QG_ASSERT_OK_AND_ASSIGN(BulkResult r, admin->RetryJobs({.queue = "w"}));
  EXPECT_EQ(r.changed, 1);  // the parent only
  EXPECT_EQ(Column(child_id, "run_at"), "9000-01-01 00:00:00+00");
}

// Found by review: deleting a waiting child (an operator's delete) counted
// it as completed, releasing its own children.
TEST_P(WorkflowTest, DeletedWaitingChildCancelsItsChildren) {
  QG_ASSERT_OK_AND_ASSIGN(int64_t a,
                          client_->Enqueue({.type = "A", .queue = "w"}));
  NewJob b{.type = "B", .queue = "w"};
  b.depends_on = {a};
  QG_ASSERT_OK_AND_ASSIGN(int64_t b_id, client_->Enqueue(b));
  NewJob c{.type = "C", .queue = "w"};
  c.depends_on = {b_id};
  QG_ASSERT_OK_AND_ASSIGN(int64_t c_id, client_->Enqueue(c));
  Query(absl::StrCat("DELETE FROM que_jobs WHERE job_id = ", b_id,
                     " RETURNING 1"));
  EXPECT_EQ(Column(c_id, "run_at"), "9999-01-01 00:00:00+00");
  EXPECT_THAT(Column(c_id, "last_error"),
              HasSubstr(absl::StrCat("parent job ", b_id, " cancelled")));
}

// Found by review: a waiting child whose priority changed was never
// released (its edges named its old key).
TEST_P(WorkflowTest, WaitingChildWhosePriorityChangedIsStillReleased) {
  Handler("P");
  Handler("C");
  QG_ASSERT_OK_AND_ASSIGN(int64_t parent,
                          client_->Enqueue({.type = "P", .queue = "w"}));
  NewJob child{.type = "C", .queue = "w"};
  child.depends_on = {parent};
  QG_ASSERT_OK_AND_ASSIGN(int64_t child_id, client_->Enqueue(child));
  Query(absl::StrCat("UPDATE que_jobs SET priority = 5 WHERE job_id = ",
                     child_id, " RETURNING 1"));
  WorkerPool pool(client_.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  EXPECT_TRUE(
      WaitFor([&] { return trace_.Count("end C") == 1; }, absl::Seconds(20)));
  pool.Shutdown();
}

// Found by review: pruning history left the edges of pruned children.
TEST_P(WorkflowTest, PrunedRecordsTakeTheirEdges) {
  QG_ASSERT_OK_AND_ASSIGN(auto admin,
                          Admin::Connect({.conninfo = db_->conninfo()}));
  QG_ASSERT_OK(admin->SetHistory("w", true));
  Handler("P");
  Handler("C");
  Workflow w;
  w.Add({.type = "C", .queue = "w"}, {w.Add({.type = "P", .queue = "w"})});
  QG_ASSERT_OK(client_->EnqueueWorkflow(w).status());
  WorkerPool pool(client_.get(), &work_map_, 2, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return CountJobs() == 0; }, absl::Seconds(20)));
  pool.Shutdown();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM qg_job_deps"), 1);
  QG_ASSERT_OK(admin->SetHistoryRetention(absl::ZeroDuration(), std::nullopt));
  QG_ASSERT_OK(admin->PruneHistory().status());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM qg_job_history"), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM qg_job_deps"), 0);
}

TEST_P(WorkflowTest, RetryLeavesAWaitingChildWaiting) {
  QG_ASSERT_OK_AND_ASSIGN(int64_t parent,
                          client_->Enqueue({.type = "P", .queue = "w"}));
  NewJob child{.type = "C", .queue = "w"};
  child.depends_on = {parent};
  QG_ASSERT_OK_AND_ASSIGN(int64_t child_id, client_->Enqueue(child));
  EXPECT_FALSE(client_->RetryJob(child_id).ok());
  EXPECT_EQ(Column(child_id, "run_at"), "9000-01-01 00:00:00+00");
}

}  // namespace
}  // namespace qg
