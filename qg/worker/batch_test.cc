// Batches in both worker modes: jobs added in several calls and
// transactions (Enqueue, EnqueueInTx, EnqueueMany, EnqueueStream, a
// Workflow) count in the batch; once it is sealed and every job settled,
// the transaction that settled the last one enqueues the callbacks, once
// (success only when every job completed); progress; enqueue-time errors.
#include "qg/batch.h"

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
#include "qg/pg.h"
#include "qg/status_macros.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/worker_modes.h"
#include "qg/worker/worker.h"
#include "qg/workflow.h"

namespace qg {
namespace {

using ::qg_testing::StatusIs;
using ::qg_testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Optional;

class BatchTest : public qg_testing::DatabaseTest,
                  public ::testing::WithParamInterface<WorkerMode> {
 protected:
  BatchTest() : DatabaseTest({.max_conns = 8, .max_attempts = 1}) {}
  void SetUp() override {
    DatabaseTest::SetUp();
    // Callbacks record their args; batch jobs fail when their args say so.
    for (const char* cb : {"Done", "Fin"}) {
      work_map_.Register(cb, [this, cb](Job& job) {
        qg::internal::MutexLock lock(mu_);
        callbacks_.push_back(absl::StrCat(cb, " ", job.args()));
        return absl::OkStatus();
      });
    }
    work_map_.Register("Work", [this](Job& job) -> absl::Status {
      ran_.fetch_add(1);
      if (job.args() == "[\"fail\"]") return absl::InternalError("failed");
      return absl::OkStatus();
    });
  }
  WorkerOptions Options(const std::string& queue) const {
    WorkerOptions options;
    options.mode = GetParam();
    options.interval = absl::Milliseconds(20);
    options.queue = queue;
    return options;
  }
  BatchOptions WithCallbacks(const std::string& description = "test") {
    BatchOptions o;
    o.description = description;
    o.on_success = NewJob{.type = "Done", .queue = "cb"};
    o.on_finish = NewJob{.type = "Fin", .args = "{\"k\": 1}", .queue = "cb"};
    return o;
  }
  NewJob Work(int64_t batch, const std::string& args = "[]") {
    NewJob j{.type = "Work", .args = args, .queue = "b"};
    j.batch_id = batch;
    return j;
  }
  std::vector<std::string> Callbacks() {
    qg::internal::MutexLock lock(mu_);
    return callbacks_;
  }
  WorkMap work_map_;
  qg::internal::Mutex mu_;
  std::vector<std::string> callbacks_;
  std::atomic<int> ran_{0};
};

INSTANTIATE_TEST_SUITE_P(Modes, BatchTest, qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

TEST_P(BatchTest, CallbacksRunOnceAfterEveryJobOfEveryEnqueuePath) {
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client_->CreateBatch(WithCallbacks()));
  // Enqueue, EnqueueMany, EnqueueStream, a workflow; in several
  // transactions.
  for (int i = 0; i < 5; ++i)
    QG_ASSERT_OK(client_->Enqueue(Work(batch)).status());
  std::vector<NewJob> many(40, Work(batch));
  QG_ASSERT_OK(client_->EnqueueMany(many).status());
  int streamed = 0;
  QG_ASSERT_OK(client_
                   ->EnqueueStream([&](NewJob& j) {
                     if (streamed == 30) return false;
                     ++streamed;
                     j = Work(batch);
                     return true;
                   })
                   .status());
  Workflow w;
  size_t first = w.Add(Work(batch));
  w.Add(Work(batch), {first});
  QG_ASSERT_OK(client_->EnqueueWorkflow(w).status());
  QG_ASSERT_OK_AND_ASSIGN(BatchInfo open, client_->GetBatch(batch));
  EXPECT_EQ(open.total, 77);
  EXPECT_EQ(open.waiting(), 77);
  EXPECT_EQ(open.sealed_at, std::nullopt);
  WorkerPool work(client_.get(), &work_map_, 4, Options("b"));
  WorkerPool callbacks(client_.get(), &work_map_, 2, Options("cb"));
  QG_ASSERT_OK(work.Start());
  QG_ASSERT_OK(callbacks.Start());
  ASSERT_TRUE(WaitFor([&] { return ran_.load() == 77; }, absl::Seconds(30)));
  absl::SleepFor(absl::Milliseconds(200));
  // Not sealed: every job is done, yet no callback.
  EXPECT_TRUE(Callbacks().empty());
  QG_ASSERT_OK_AND_ASSIGN(BatchInfo done, client_->GetBatch(batch));
  EXPECT_EQ(done.completed, 77);
  EXPECT_EQ(done.finished_at, std::nullopt);
  // Sealing finishes it at once: its transaction enqueues the callbacks.
  QG_ASSERT_OK(client_->SealBatch(batch));
  QG_ASSERT_OK(client_->SealBatch(batch));  // twice: nothing more
  ASSERT_TRUE(
      WaitFor([&] { return Callbacks().size() == 2; }, absl::Seconds(20)));
  absl::SleepFor(absl::Milliseconds(300));
  work.Shutdown();
  callbacks.Shutdown();
  EXPECT_THAT(Callbacks(),
              ::testing::UnorderedElementsAre(
                  absl::StrCat("Done [", batch, "]"),
                  absl::StrCat("Fin {\"k\": 1, \"batch_id\": ", batch, "}")));
  QG_ASSERT_OK_AND_ASSIGN(BatchInfo finished, client_->GetBatch(batch));
  EXPECT_TRUE(finished.finished_at.has_value());
  EXPECT_TRUE(finished.success_job_id.has_value());
  EXPECT_TRUE(finished.finish_job_id.has_value());
  // Sealed: no more jobs.
  EXPECT_THAT(
      client_->Enqueue(Work(batch)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("sealed")));
}

TEST_P(BatchTest, SealedBatchFinishesWithItsLastJob) {
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client_->CreateBatch(WithCallbacks()));
  QG_ASSERT_OK(
      client_->EnqueueMany(std::vector<NewJob>(200, Work(batch))).status());
  QG_ASSERT_OK(client_->SealBatch(batch));
  WorkerPool work(client_.get(), &work_map_, 8, Options("b"));
  WorkerPool callbacks(client_.get(), &work_map_, 2, Options("cb"));
  QG_ASSERT_OK(work.Start());
  QG_ASSERT_OK(callbacks.Start());
  ASSERT_TRUE(
      WaitFor([&] { return Callbacks().size() == 2; }, absl::Seconds(30)));
  absl::SleepFor(absl::Milliseconds(300));
  work.Shutdown();
  callbacks.Shutdown();
  EXPECT_EQ(Callbacks().size(), 2u);
  EXPECT_EQ(ran_.load(), 200);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM que_jobs"), 0);
}

TEST_P(BatchTest, DeadOrCancelledJobFinishesItWithoutSuccess) {
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client_->CreateBatch(WithCallbacks()));
  QG_ASSERT_OK(client_->Enqueue(Work(batch)).status());
  QG_ASSERT_OK(client_->Enqueue(Work(batch, "[\"fail\"]")).status());
  QG_ASSERT_OK_AND_ASSIGN(int64_t cancelled, client_->Enqueue(Work(batch)));
  QG_ASSERT_OK(client_->CancelJob(cancelled).status());
  QG_ASSERT_OK(client_->SealBatch(batch));
  WorkerPool work(client_.get(), &work_map_, 2, Options("b"));
  WorkerPool callbacks(client_.get(), &work_map_, 1, Options("cb"));
  QG_ASSERT_OK(work.Start());
  QG_ASSERT_OK(callbacks.Start());
  ASSERT_TRUE(
      WaitFor([&] { return Callbacks().size() == 1; }, absl::Seconds(20)));
  absl::SleepFor(absl::Milliseconds(300));
  work.Shutdown();
  callbacks.Shutdown();
  EXPECT_THAT(Callbacks(),
              ::testing::ElementsAre(HasSubstr("Fin {\"k\": 1, \"batch_id\"")));
  QG_ASSERT_OK_AND_ASSIGN(BatchInfo b, client_->GetBatch(batch));
  EXPECT_EQ(b.total, 3);
  EXPECT_EQ(b.completed, 1);
  EXPECT_EQ(b.dead, 1);
  EXPECT_EQ(b.cancelled, 1);
  EXPECT_EQ(b.success_job_id, std::nullopt);
  EXPECT_TRUE(b.finish_job_id.has_value());
}

TEST_P(BatchTest, WithHistoryTheRecordSaysHowAJobEnded) {
  QG_ASSERT_OK_AND_ASSIGN(auto admin,
                          Admin::Connect({.conninfo = db_->conninfo()}));
  QG_ASSERT_OK(admin->SetHistory("b", true));
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client_->CreateBatch(WithCallbacks()));
  QG_ASSERT_OK(client_->Enqueue(Work(batch)).status());
  QG_ASSERT_OK(client_->Enqueue(Work(batch, "[\"fail\"]")).status());
  QG_ASSERT_OK(client_->SealBatch(batch));
  WorkerPool work(client_.get(), &work_map_, 2, Options("b"));
  QG_ASSERT_OK(work.Start());
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<BatchInfo> b = client_->GetBatch(batch);
    return b.ok() && b->finished_at.has_value();
  }));
  work.Shutdown();
  QG_ASSERT_OK_AND_ASSIGN(BatchInfo b, client_->GetBatch(batch));
  EXPECT_EQ(b.completed, 1);
  EXPECT_EQ(b.dead, 1);
  EXPECT_EQ(b.success_job_id, std::nullopt);
}

TEST_P(BatchTest, ManyPoolsFinishingTheLastJobsEnqueueEachCallbackOnce) {
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client_->CreateBatch(WithCallbacks()));
  QG_ASSERT_OK(
      client_->EnqueueMany(std::vector<NewJob>(1500, Work(batch))).status());
  QG_ASSERT_OK(client_->SealBatch(batch));
  // Three clients (their own sessions), eight workers each.
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::unique_ptr<WorkerPool>> pools;
  for (int i = 0; i < 3; ++i) {
    QG_ASSERT_OK_AND_ASSIGN(auto c, NewClient({.max_conns = 10}));
    pools.push_back(
        std::make_unique<WorkerPool>(c.get(), &work_map_, 8, Options("b")));
    clients.push_back(std::move(c));
  }
  for (auto& p : pools) QG_ASSERT_OK(p->Start());
  ASSERT_TRUE(WaitFor(
      [&] {
        return QueryInt("SELECT count(*) FROM que_jobs WHERE queue = 'b'") == 0;
      },
      absl::Seconds(60)));
  for (auto& p : pools) p->Shutdown();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM que_jobs WHERE queue = 'cb'"), 2);
  QG_ASSERT_OK_AND_ASSIGN(BatchInfo b, client_->GetBatch(batch));
  EXPECT_EQ(b.completed, 1500);
  EXPECT_TRUE(b.finished_at.has_value());
}

// Found by review: a dead job kept in que_jobs that an operator cancelled
// (relabelled, not moved) and then retried left the counts at -1
// cancelled, and the success callback never came.
TEST_P(BatchTest, DeadJobCancelledThenRetriedStillLetsTheBatchSucceed) {
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client_->CreateBatch(WithCallbacks()));
  QG_ASSERT_OK_AND_ASSIGN(int64_t job,
                          client_->Enqueue(Work(batch, "[\"fail\"]")));
  // Due in an hour: the batch stays unfinished meanwhile.
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t later, client_->Enqueue({.type = "Work",
                                       .queue = "b",
                                       .run_at = absl::Now() + absl::Hours(1),
                                       .batch_id = batch}));
  QG_ASSERT_OK(client_->SealBatch(batch));
  {
    WorkerPool work(client_.get(), &work_map_, 2, Options("b"));
    QG_ASSERT_OK(work.Start());
    ASSERT_TRUE(WaitFor([&] {
      absl::StatusOr<BatchInfo> b = client_->GetBatch(batch);
      return b.ok() && b->dead == 1;
    }));
    work.Shutdown();
  }
  QG_ASSERT_OK(client_->CancelJob(job).status());
  QG_ASSERT_OK_AND_ASSIGN(BatchInfo b, client_->GetBatch(batch));
  EXPECT_EQ(b.dead, 0);
  EXPECT_EQ(b.cancelled, 1);
  // Retried, it waits in its batch again, and this time it completes.
  Query(absl::StrCat("UPDATE que_jobs SET args = '[]' WHERE job_id = ", job,
                     " RETURNING 1"));
  QG_ASSERT_OK(client_->RetryJob(job));
  QG_ASSERT_OK_AND_ASSIGN(b, client_->GetBatch(batch));
  EXPECT_EQ(b.cancelled, 0);
  EXPECT_EQ(b.waiting(), 2);
  Query(absl::StrCat("UPDATE que_jobs SET run_at = now() WHERE job_id = ",
                     later, " RETURNING 1"));
  WorkerPool work(client_.get(), &work_map_, 2, Options("b"));
  WorkerPool callbacks(client_.get(), &work_map_, 1, Options("cb"));
  QG_ASSERT_OK(work.Start());
  QG_ASSERT_OK(callbacks.Start());
  ASSERT_TRUE(
      WaitFor([&] { return Callbacks().size() == 2; }, absl::Seconds(20)));
  work.Shutdown();
  callbacks.Shutdown();
  QG_ASSERT_OK_AND_ASSIGN(b, client_->GetBatch(batch));
  EXPECT_EQ(b.completed, 2);
  EXPECT_TRUE(b.success_job_id.has_value());
}

// Found by review: with history on, a dead batch job brought back from its
// record left its batch, which then finished without it.
TEST_P(BatchTest, DeadJobRevivedFromHistoryRejoinsItsBatch) {
  QG_ASSERT_OK_AND_ASSIGN(auto admin,
                          Admin::Connect({.conninfo = db_->conninfo()}));
  QG_ASSERT_OK(admin->SetHistory("b", true));
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client_->CreateBatch(WithCallbacks()));
  QG_ASSERT_OK_AND_ASSIGN(int64_t job,
                          client_->Enqueue(Work(batch, "[\"fail\"]")));
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t later, client_->Enqueue({.type = "Work",
                                       .queue = "b",
                                       .run_at = absl::Now() + absl::Hours(1),
                                       .batch_id = batch}));
  QG_ASSERT_OK(client_->SealBatch(batch));
  {
    WorkerPool work(client_.get(), &work_map_, 1, Options("b"));
    QG_ASSERT_OK(work.Start());
    ASSERT_TRUE(WaitFor([&] {
      absl::StatusOr<BatchInfo> b = client_->GetBatch(batch);
      return b.ok() && b->dead == 1;
    }));
    work.Shutdown();
  }
  QG_ASSERT_OK(client_->RetryJob(job));  // from its record
  QG_ASSERT_OK_AND_ASSIGN(BatchInfo b, client_->GetBatch(batch));
  EXPECT_EQ(b.dead, 0);
  EXPECT_EQ(b.waiting(), 2);
  EXPECT_EQ(Query(absl::StrCat("SELECT qg_batch_id FROM que_jobs WHERE "
                               "job_id = ",
                               job)),
            absl::StrCat(batch));
  // The other job completes: the batch waits for the revived one.
  Query(absl::StrCat("DELETE FROM que_jobs WHERE job_id = ", later,
                     " RETURNING 1"));
  QG_ASSERT_OK_AND_ASSIGN(b, client_->GetBatch(batch));
  EXPECT_EQ(b.finished_at, std::nullopt);
}

// Found by review: an enqueue into a batch whose transaction stayed open
// held the batch's row, and every completion of the batch's jobs waited
// for it. Now only sealing waits for it.
TEST_P(BatchTest, OpenEnqueueTransactionHoldsUpNoCompletion) {
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client_->CreateBatch(WithCallbacks()));
  QG_ASSERT_OK(client_->Enqueue(Work(batch)).status());
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr tx, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK(qg::ExecSimple(tx.get(), "BEGIN").status());
  QG_ASSERT_OK(
      qg::Exec(tx.get(),
               "INSERT INTO que_jobs (queue, job_class, qg_batch_id) VALUES "
               "('b', 'Work', $1)",
               {absl::StrCat(batch)})
          .status());
  WorkerPool work(client_.get(), &work_map_, 1, Options("b"));
  QG_ASSERT_OK(work.Start());
  // The committed job completes while the enqueue is still open.
  EXPECT_TRUE(WaitFor([&] { return CountJobs("queue = 'b'") == 0; },
                      absl::Seconds(20)));
  QG_ASSERT_OK(qg::ExecSimple(tx.get(), "COMMIT").status());
  QG_ASSERT_OK(client_->SealBatch(batch));
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<BatchInfo> b = client_->GetBatch(batch);
    return b.ok() && b->finished_at.has_value();
  }));
  work.Shutdown();
  QG_ASSERT_OK_AND_ASSIGN(BatchInfo b, client_->GetBatch(batch));
  EXPECT_EQ(b.total, 2);
  EXPECT_EQ(b.completed, 2);
}

TEST_P(BatchTest, EnqueueRefusesUnknownBatchesAndBadCallbacks) {
  EXPECT_THAT(client_->Enqueue(Work(987654)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no batch")));
  EXPECT_THAT(client_->EnqueueMany({Work(987654)}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client_->SealBatch(987654),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client_->GetBatch(987654), StatusIs(absl::StatusCode::kNotFound));
  BatchOptions bad;
  bad.on_success = NewJob{.type = ""};
  EXPECT_THAT(
      client_->CreateBatch(bad),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("on_success")));
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client_->CreateBatch({}));
  // A stream that starts outside the batch cannot join it later.
  int n = 0;
  EXPECT_THAT(
      client_->EnqueueStream([&](NewJob& j) {
        if (n == 2) return false;
        j = n++ == 0 ? NewJob{.type = "Work", .queue = "b"} : Work(batch);
        return true;
      }),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("first job")));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM que_jobs"), 0);
  QG_ASSERT_OK_AND_ASSIGN(BatchInfo b, client_->GetBatch(batch));
  EXPECT_EQ(b.total, 0);
  // An empty batch finishes when sealed.
  QG_ASSERT_OK(client_->SealBatch(batch));
  QG_ASSERT_OK_AND_ASSIGN(b, client_->GetBatch(batch));
  EXPECT_TRUE(b.finished_at.has_value());
}

}  // namespace
}  // namespace qg
