// Tests of qg::Admin against a real throwaway database each.
#include "qg/admin.h"

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/internal/sql.h"
#include "qg/periodic.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"

namespace qg {
namespace {

using ::qg_testing::IsOk;
using ::qg_testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class AdminTest : public qg_testing::DatabaseTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(DatabaseTest::SetUp());
    QG_ASSERT_OK_AND_ASSIGN(admin_,
                            Admin::Connect({.conninfo = db_->conninfo()}));
  }

  std::vector<int64_t> Ids(const JobPage& page) {
    std::vector<int64_t> ids;
    for (const JobRecord& j : page.jobs) ids.push_back(j.id);
    return ids;
  }

  std::unique_ptr<Admin> admin_;
};

TEST_F(AdminTest, ConnectWorksBeforeTheSchemaAndMigrateCreatesItOnce) {
  std::string empty = EmptyDatabase("qg_admin_migrate");
  QG_ASSERT_OK_AND_ASSIGN(auto admin, Admin::Connect({.conninfo = empty}));
  EXPECT_THAT(
      admin->Stats().status(),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("qg migrate")));
  QG_ASSERT_OK_AND_ASSIGN(MigrateResult first, admin->Migrate());
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.schema_version, 3);
  QG_ASSERT_OK_AND_ASSIGN(MigrateResult second, admin->Migrate());
  EXPECT_FALSE(second.created);
  QG_ASSERT_OK_AND_ASSIGN(StatsReport stats, admin->Stats());
  EXPECT_TRUE(stats.groups.empty());
  EXPECT_TRUE(stats.fast_path.available);
  EXPECT_THAT(stats.fast_path.reason, HasSubstr("fast"));
}

TEST_F(AdminTest, ConcurrentMigratesAllSucceedAndOneCreates) {
  std::string empty = EmptyDatabase("qg_admin_concurrent");
  std::atomic<int> created{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto admin = Admin::Connect({.conninfo = empty});
      absl::StatusOr<MigrateResult> r =
          admin.ok() ? (*admin)->Migrate()
                     : absl::StatusOr<MigrateResult>(admin.status());
      if (!r.ok()) {
        ++failed;
      } else if (r->created) {
        ++created;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(created.load(), 1);
}

TEST_F(AdminTest, MigrateRefusesAnotherQueVersionAndChangesNothing) {
  std::string empty = EmptyDatabase("qg_admin_que1");
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr c, qg::Connect(empty));
  QG_ASSERT_OK(qg::ExecSimple(
                   c.get(),
                   "CREATE TABLE que_jobs (id bigserial PRIMARY KEY, priority "
                   "smallint, run_at timestamptz, job_class text, args jsonb, "
                   "error_count int, last_error_message text, queue text); "
                   "COMMENT ON TABLE que_jobs IS '4'")
                   .status());
  QG_ASSERT_OK_AND_ASSIGN(auto admin, Admin::Connect({.conninfo = empty}));
  EXPECT_THAT(admin->Migrate().status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("another Que version")));
  EXPECT_EQ(
      qg_testing::QueryValue(c.get(),
                             "SELECT count(*) FROM pg_proc WHERE proname = "
                             "'qg_lock_jobs'"),
      "0");
  EXPECT_THAT(admin->ListJobs({}).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(AdminTest, ConnectRejectsBadOptionsWithoutEchoingSecrets) {
  EXPECT_THAT(
      Admin::Connect({.conninfo = db_->conninfo(), .max_conns = 0}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument));
  absl::Status bad =
      Admin::Connect({.conninfo = "host=@qg-nowhere dbname=x password=s3cret "
                                  "sslpassword=s3cretssl",
                      .acquire_timeout = absl::Seconds(5)})
          .status();
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.message(), ::testing::Not(HasSubstr("s3cret")));
}

TEST_F(AdminTest, StatsReportsTheQgCompatiblePathWithoutTheLockFunction) {
  Query("DROP FUNCTION qg_lock_jobs");
  Query(
      "INSERT INTO que_jobs (job_class, queue, error_count) VALUES ('A', "
      "'', 0), ('A', '', 2), ('B', 'q', 0) RETURNING 1");
  QG_ASSERT_OK_AND_ASSIGN(StatsReport stats, admin_->Stats());
  EXPECT_FALSE(stats.fast_path.available);
  EXPECT_THAT(stats.fast_path.reason, HasSubstr("qg migrate"));
  ASSERT_EQ(stats.groups.size(), 2u);
  EXPECT_EQ(stats.groups[0].type, "A");
  EXPECT_EQ(stats.groups[0].count, 2);
  EXPECT_EQ(stats.groups[0].count_errored, 1);
}

TEST_F(AdminTest, StatsSaysTheLockFunctionIsOlderThanThisVersionCalls) {
  // qg_lock_jobs() as an older `qg migrate` left it: the same arguments,
  // a result without the row_tid column this version reads.
  Query("DROP FUNCTION qg_lock_jobs");
  Query(
      "CREATE FUNCTION qg_lock_jobs(q text, want int, held bigint[], "
      "max_scan int, after_p smallint, after_r timestamptz, after_id bigint, "
      "rewind_p smallint, rewind_r timestamptz, rewind_id bigint, scope "
      "bigint, probe_p smallint[], probe_r timestamptz[], probe_i bigint[], "
      "probe_b bigint[], hand smallint) RETURNS TABLE (job_id bigint) "
      "LANGUAGE sql AS 'SELECT NULL::bigint WHERE false'");
  QG_ASSERT_OK_AND_ASSIGN(StatsReport stats, admin_->Stats());
  EXPECT_FALSE(stats.fast_path.available);
  EXPECT_THAT(stats.fast_path.reason, HasSubstr("older"));
  EXPECT_THAT(stats.fast_path.reason, HasSubstr("qg migrate"));
}

TEST_F(AdminTest, ListJobsFiltersByQueueTypeStateAndErrorText) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, queue, run_at, error_count, "
      "last_error) VALUES "
      "(1, 'Ready', 'q', now() - interval '1 minute', 0, NULL), "
      "(2, 'Later', 'q', now() + interval '1 hour', 0, NULL), "
      "(3, 'Failed', 'q', now() + interval '1 hour', 2, "
      "E'SMTP Timeout\\n at line 2'), "
      "(4, 'Dead', 'q', '9999-01-01 00:00:00+00', 5, 'qg: dead after 5 "
      "attempts: boom'), "
      "(5, 'Held', 'q', now() - interval '1 minute', 0, NULL), "
      "(6, 'Ready', 'other', now() - interval '1 minute', 0, NULL) "
      "RETURNING 1");
  PgConnPtr holder = HoldJobLock(5);
  auto ids = [&](JobFilter f) {
    absl::StatusOr<JobPage> page = admin_->ListJobs(f);
    EXPECT_THAT(page.status(), IsOk());
    return page.ok() ? Ids(*page) : std::vector<int64_t>{};
  };
  EXPECT_THAT(ids({}), UnorderedElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(ids({.queue = "other"}), UnorderedElementsAre(6));
  EXPECT_THAT(ids({.type = "Ready"}), UnorderedElementsAre(1, 6));
  EXPECT_THAT(ids({.queue = "q", .state = JobState::kReady}),
              UnorderedElementsAre(1));
  EXPECT_THAT(ids({.queue = "q", .state = JobState::kRunnable}),
              UnorderedElementsAre(1, 5));
  EXPECT_THAT(ids({.state = JobState::kScheduled}), UnorderedElementsAre(2, 3));
  EXPECT_THAT(ids({.state = JobState::kWorking}), UnorderedElementsAre(5));
  EXPECT_THAT(ids({.state = JobState::kErrored}), UnorderedElementsAre(3, 4));
  EXPECT_THAT(ids({.state = JobState::kDead}), UnorderedElementsAre(4));
  EXPECT_THAT(ids({.error_contains = "smtp timeout"}), UnorderedElementsAre(3));

  QG_ASSERT_OK_AND_ASSIGN(JobPage failed, admin_->ListJobs({.type = "Failed"}));
  ASSERT_EQ(failed.jobs.size(), 1u);
  // A listing reads what it shows: the error's first line, no args.
  EXPECT_EQ(failed.jobs[0].last_error, "SMTP Timeout");
  EXPECT_EQ(failed.jobs[0].last_error_line, "SMTP Timeout");
  EXPECT_EQ(failed.jobs[0].args, "");
  EXPECT_FALSE(failed.jobs[0].working());
  EXPECT_FALSE(failed.next.has_value());
  EXPECT_THAT(admin_->ListJobs({}, {.limit = 0}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(AdminTest, PagesReturnEveryRowExactlyOnceWhileJobsAreInserted) {
  // 600 jobs over three queues, priorities and run_ats, with ties.
  Query(
      "INSERT INTO que_jobs (job_class, queue, priority, run_at) "
      "SELECT 'T', 'q' || (i % 3), (i % 4)::smallint, "
      "'2026-01-01'::timestamptz + (i % 7) * interval '1 second' "
      "FROM generate_series(1, 600) AS i RETURNING 1");
  std::set<int64_t> original;
  {
    QG_ASSERT_OK_AND_ASSIGN(JobPage all,
                            admin_->ListJobs({}, {.limit = 10000}));
    for (const JobRecord& j : all.jobs) original.insert(j.id);
  }
  ASSERT_EQ(original.size(), 600u);
  std::map<int64_t, int> seen;
  PageRequest page{.limit = 37};
  int pages = 0;
  do {
    QG_ASSERT_OK_AND_ASSIGN(JobPage p, admin_->ListJobs({}, page));
    for (const JobRecord& j : p.jobs) ++seen[j.id];
    // Someone enqueues between pages, in front of and behind the cursor.
    Query(absl::StrCat(
        "INSERT INTO que_jobs (job_class, queue, priority, run_at) VALUES "
        "('New', 'q",
        pages % 3, "', ", pages % 4,
        ", '2026-01-01'::timestamptz + interval '3 seconds') RETURNING 1"));
    page.after = p.next;
    ++pages;
  } while (page.after.has_value() && pages < 1000);
  for (int64_t id : original) EXPECT_EQ(seen[id], 1) << "job " << id;
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << "job " << id;
  EXPECT_GE(pages, 600 / 37);
}

TEST_F(AdminTest, PagesWalkThePrimaryKeyWithoutSortingOrOffset) {
  Query(
      "INSERT INTO que_jobs (job_class, queue, priority, run_at, error_count) "
      "SELECT 'T', 'q' || (i % 10), (i % 5)::smallint, "
      "now() - i * interval '1 second', i % 2 "
      "FROM generate_series(1, 50000) AS i RETURNING 1");
  Query("ANALYZE que_jobs");
  // The statement exactly as ListJobs sends it, page 2 of one queue.
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult plan,
      qg::Exec(conn_.get(),
               absl::StrCat("EXPLAIN ", internal::sql::kListJobs.text),
               {"q3", std::nullopt, "errored", std::nullopt, "q3", "2",
                "2026-01-01 00:00:00+00", "17", "50", std::nullopt}));
  std::string text;
  for (int i = 0; i < plan.rows(); ++i) {
    absl::StrAppend(&text, plan.Get(i, 0), "\n");
  }
  EXPECT_THAT(text, HasSubstr("Index Scan using que_jobs_pkey")) << text;
  EXPECT_THAT(text, ::testing::Not(HasSubstr("Sort")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("Seq Scan on que_jobs")));
}

TEST_F(AdminTest, WorkingIgnoresALockOnTheSameIdInAnotherDatabase) {
  QG_ASSERT_OK_AND_ASSIGN(auto other, qg_testing::TestDatabase::Create());
  ASSERT_EQ(&other->server(), &db_->server());  // same server, two databases
  Query(
      "INSERT INTO que_jobs (job_id, job_class) VALUES (77, 'T') RETURNING 1");
  PgConnPtr elsewhere = HoldJobLock(77, other->conninfo());
  QG_ASSERT_OK_AND_ASSIGN(JobPage page, admin_->ListJobs({}));
  ASSERT_EQ(page.jobs.size(), 1u);
  EXPECT_FALSE(page.jobs[0].working());
  QG_ASSERT_OK_AND_ASSIGN(JobRecord job, admin_->GetJob(77));
  EXPECT_EQ(job.held_by_pid, 0);
  QG_ASSERT_OK_AND_ASSIGN(JobPage none,
                          admin_->ListJobs({.state = JobState::kWorking}));
  EXPECT_TRUE(none.jobs.empty());
  // ... and the other database's lock does not stop a retry here.
  QG_EXPECT_OK(admin_->RetryJob(77));

  PgConnPtr here = HoldJobLock(77);
  std::string pid =
      qg_testing::QueryValue(here.get(), "SELECT pg_backend_pid()");
  QG_ASSERT_OK_AND_ASSIGN(JobRecord held, admin_->GetJob(77));
  EXPECT_EQ(absl::StrCat(held.held_by_pid), pid);
  QG_ASSERT_OK_AND_ASSIGN(JobPage working,
                          admin_->ListJobs({.state = JobState::kWorking}));
  EXPECT_EQ(Ids(working), std::vector<int64_t>{77});
}

TEST_F(AdminTest, GetJobIsNotFoundWhenMissing) {
  EXPECT_THAT(admin_->GetJob(12345).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("12345")));
}

TEST_F(AdminTest, RetryOrDeleteOfAHeldJobIsRefusedAndChangesNothing) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count) VALUES "
      "(9, 'T', '2030-01-01 00:00:00+00', 3) RETURNING 1");
  PgConnPtr worker = HoldJobLock(9);
  EXPECT_THAT(admin_->RetryJob(9),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("being worked")));
  EXPECT_THAT(admin_->DeleteJob(9),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Client::RetryJob shares the implementation.
  QG_ASSERT_OK_AND_ASSIGN(auto client,
                          Client::Create({.conninfo = db_->conninfo()}));
  EXPECT_THAT(client->RetryJob(9),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Query("SELECT format('%s|%s', run_at, error_count) FROM que_jobs"),
            "2030-01-01 00:00:00+00|3");
  // The worker still holds its lock; nobody else holds one.
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = "
                  "'advisory'"),
            "1");
  // The worker goes away; its backend releases the lock when it exits,
  // a moment after the connection closes.
  worker.reset();
  ASSERT_TRUE(qg_testing::WaitFor(
      [&] {
        return Query(
                   "SELECT count(*) FROM pg_locks WHERE locktype = "
                   "'advisory'") == "0";
      },
      absl::Seconds(10)));
  QG_EXPECT_OK(admin_->DeleteJob(9));
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
  EXPECT_THAT(admin_->DeleteJob(9), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(admin_->RetryJob(9), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = "
                  "'advisory'"),
            "0");
}

TEST_F(AdminTest, RetryGivesADeadJobItsAttemptsBackAndKeepsADueJobsPlace) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count) VALUES "
      "(1, 'Dead', '9999-01-01 00:00:00+00', 5), "
      "(2, 'Later', now() + interval '1 day', 2), "
      "(3, 'Due', '2020-01-01 00:00:00+00', 1) RETURNING 1");
  for (int64_t id : {1, 2, 3}) QG_EXPECT_OK(admin_->RetryJob(id));
  EXPECT_EQ(Query("SELECT string_agg(format('%s:%s:%s', job_id, "
                  "run_at <= now(), error_count), ' ' ORDER BY job_id) "
                  "FROM que_jobs"),
            "1:t:0 2:t:2 3:t:1");
  EXPECT_EQ(Query("SELECT run_at FROM que_jobs WHERE job_id = 3"),
            "2020-01-01 00:00:00+00");
}

TEST_F(AdminTest, RetryJobsSkipsAndCountsHeldJobs) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, queue, run_at, error_count) "
      "SELECT i, 'T', 'q', now() + interval '1 hour', 1 "
      "FROM generate_series(1, 1200) AS i RETURNING 1");
  Query(
      "INSERT INTO que_jobs (job_id, job_class, queue, run_at, error_count) "
      "VALUES (5000, 'T', 'q', now() + interval '1 hour', 0), "
      "(5001, 'T', 'other', now() + interval '1 hour', 1) RETURNING 1");
  PgConnPtr w1 = HoldJobLock(7);
  PgConnPtr w2 = HoldJobLock(1100);
  QG_ASSERT_OK_AND_ASSIGN(
      BulkResult r,
      admin_->RetryJobs({.queue = "q", .state = JobState::kErrored}));
  EXPECT_EQ(r.changed, 1198);
  EXPECT_EQ(r.skipped_held, 2);
  EXPECT_EQ(r.skipped_moved, 0);
  EXPECT_EQ(Query("SELECT string_agg(job_id::text, ',' ORDER BY job_id) FROM "
                  "que_jobs WHERE run_at > now()"),
            "7,1100,5000,5001");
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = "
                  "'advisory'"),
            "2");
}

TEST_F(AdminTest, RetryJobsOfDeadJobsGivesThemTheirAttemptsBack) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count) VALUES "
      "(1, 'T', '9999-01-01 00:00:00+00', 5), "
      "(2, 'U', '9999-01-01 00:00:00+00', 5), "
      "(3, 'T', now() + interval '1 hour', 2) RETURNING 1");
  QG_ASSERT_OK_AND_ASSIGN(
      BulkResult r, admin_->RetryJobs({.type = "T", .state = JobState::kDead}));
  EXPECT_EQ(r.changed, 1);
  EXPECT_EQ(Query("SELECT string_agg(format('%s:%s:%s', job_id, "
                  "run_at <= now(), error_count), ' ' ORDER BY job_id) "
                  "FROM que_jobs"),
            "1:t:0 2:f:5 3:f:2");
}

TEST_F(AdminTest, DeleteJobsRefusesToDeleteEverythingAndSkipsHeldJobs) {
  EXPECT_THAT(admin_->DeleteJobs({}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  Query(
      "INSERT INTO que_jobs (job_id, job_class, queue) VALUES "
      "(1, 'T', 'demo'), (2, 'T', 'demo'), (3, 'T', 'keep') RETURNING 1");
  PgConnPtr worker = HoldJobLock(2);
  QG_ASSERT_OK_AND_ASSIGN(BulkResult r, admin_->DeleteJobs({.queue = "demo"}));
  EXPECT_EQ(r.changed, 1);
  EXPECT_EQ(r.skipped_held, 1);
  EXPECT_EQ(Query("SELECT string_agg(job_id::text, ',' ORDER BY job_id) FROM "
                  "que_jobs"),
            "2,3");
}

TEST(JobCursorTest, EncodesAndDecodesAQueueWithCommas) {
  JobCursor c{.queue = "a,b,c",
              .priority = -5,
              .run_at = absl::FromUnixMicros(1795932000123456),
              .id = 42};
  EXPECT_EQ(c.Encode(), "42,-5,2026-11-29T06:00:00.123456Z,a,b,c");
  QG_ASSERT_OK_AND_ASSIGN(JobCursor back, JobCursor::Decode(c.Encode()));
  EXPECT_EQ(back.queue, "a,b,c");
  EXPECT_EQ(back.priority, -5);
  EXPECT_EQ(back.run_at, c.run_at);
  EXPECT_EQ(back.id, 42);
  EXPECT_THAT(JobCursor::Decode("nonsense").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(JobCursor::Decode("1,70000,2026-01-01T00:00:00Z,q").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(JobStateTest, NamesRoundTrip) {
  for (JobState s : {JobState::kAny, JobState::kReady, JobState::kRunnable,
                     JobState::kScheduled, JobState::kWorking,
                     JobState::kErrored, JobState::kDead}) {
    QG_ASSERT_OK_AND_ASSIGN(JobState back, ParseJobState(JobStateName(s)));
    EXPECT_EQ(back, s);
  }
  EXPECT_THAT(ParseJobState("bogus").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dead")));
}

TEST_F(AdminTest, PauseAndResumeShowInStatsEvenForAnEmptyQueue) {
  Query("INSERT INTO que_jobs (job_class, queue) VALUES ('A', 'busy')");
  QG_ASSERT_OK(admin_->PauseQueue("busy"));
  QG_ASSERT_OK(admin_->PauseQueue("idle"));  // no jobs: paused all the same
  QG_ASSERT_OK(admin_->PauseQueue("idle"));  // again: still paused, once
  QG_ASSERT_OK_AND_ASSIGN(StatsReport report, admin_->Stats());
  EXPECT_THAT(report.paused_queues, ::testing::ElementsAre("busy", "idle"));
  EXPECT_TRUE(report.paused("idle"));
  EXPECT_FALSE(report.paused(""));
  ASSERT_EQ(report.groups.size(), 1u);  // the empty queue has no group
  QG_ASSERT_OK(admin_->ResumeQueue("busy"));
  QG_ASSERT_OK_AND_ASSIGN(std::vector<std::string> paused,
                          admin_->PausedQueues());
  EXPECT_THAT(paused, ::testing::ElementsAre("idle"));
  // The library sees what the admin did, and the other way round.
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> client,
                          Client::Create({.conninfo = db_->conninfo()}));
  QG_ASSERT_OK_AND_ASSIGN(paused, client->PausedQueues());
  EXPECT_THAT(paused, ::testing::ElementsAre("idle"));
  QG_ASSERT_OK(client->ResumeQueue("idle"));
  QG_ASSERT_OK_AND_ASSIGN(report, admin_->Stats());
  EXPECT_THAT(report.paused_queues, ::testing::IsEmpty());
}

TEST_F(AdminTest, PausingAnEmptyNameIsInvalidAndChangesNothing) {
  EXPECT_THAT(admin_->PauseQueue(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("queue name is required")));
  EXPECT_THAT(admin_->ResumeQueue(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Query("SELECT count(*) FROM qg_queues"), "0");
}

TEST_F(AdminTest, StatsWithoutTheAdditionsReportsNoPausedQueue) {
  Query("DROP TABLE qg_queues CASCADE");
  QG_ASSERT_OK_AND_ASSIGN(StatsReport report, admin_->Stats());
  EXPECT_THAT(report.paused_queues, ::testing::IsEmpty());
  EXPECT_THAT(
      admin_->PauseQueue("q"),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("qg migrate")));
}

TEST_F(AdminTest, CancelKeepsAJobNobodyHoldsAsCancelledAndRetryRevivesIt) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count) VALUES "
      "(61, 'A', now() + interval '1 hour', 2)");
  QG_ASSERT_OK_AND_ASSIGN(CancelOutcome outcome, admin_->CancelJob(61));
  EXPECT_EQ(outcome, CancelOutcome::kCancelled);
  QG_ASSERT_OK_AND_ASSIGN(JobRecord job, admin_->GetJob(61));
  EXPECT_TRUE(job.dead());
  EXPECT_TRUE(job.cancelled());
  EXPECT_EQ(job.error_count, 2);  // unchanged
  EXPECT_THAT(job.last_error, ::testing::StartsWith("qg: cancelled"));
  QG_ASSERT_OK_AND_ASSIGN(JobPage dead,
                          admin_->ListJobs({.state = JobState::kDead}));
  EXPECT_THAT(Ids(dead), ::testing::ElementsAre(61));
  QG_ASSERT_OK(admin_->RetryJob(61));
  QG_ASSERT_OK_AND_ASSIGN(job, admin_->GetJob(61));
  EXPECT_FALSE(job.dead());
  EXPECT_FALSE(job.cancelled());
}

TEST_F(AdminTest, ADeadJobIsNotCancelledUnlessItsErrorSaysSo) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count, "
      "last_error) VALUES (71, 'A', '9999-01-01 00:00:00+00', 5, "
      "'qg: dead after 5 attempts: boom')");
  QG_ASSERT_OK_AND_ASSIGN(JobRecord job, admin_->GetJob(71));
  EXPECT_TRUE(job.dead());
  EXPECT_FALSE(job.cancelled());
}

TEST_F(AdminTest, CancelOfAnUnknownOrForeignHeldJobFailsAndChangesNothing) {
  EXPECT_THAT(admin_->CancelJob(424242).status(),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("no job with ID 424242")));
  Query("INSERT INTO que_jobs (job_id, job_class) VALUES (81, 'Ruby')");
  // A Ruby Que or que-go worker holds it: it takes no cancel requests.
  PgConnPtr ruby = HoldJobLock(81);
  EXPECT_THAT(admin_->CancelJob(81, absl::Milliseconds(300)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cannot be cancelled while it runs")));
  EXPECT_EQ(Query("SELECT format('%s|%s', run_at < '9999-01-01', "
                  "last_error IS NULL) FROM que_jobs"),
            "t|t");
  EXPECT_EQ(Query("SELECT count(*) FROM qg_cancellations"), "0");
}

// Regression (issue 17, defect 3): bulk retry revived jobs an operator
// cancelled together with the jobs that died of errors, and ran them at once.
// A cancelled job is not a dead one: bulk retry (any filter) leaves it and
// counts it; a retry by id revives it and says it was cancelled.
TEST_F(AdminTest, RetryJobsLeavesCancelledJobsAndCountsThem) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count, "
      "last_error) VALUES "
      "(91, 'A', '9999-01-01 00:00:00+00', 5, "
      "'qg: dead after 5 attempts: card declined'), "
      "(92, 'A', '9999-01-01 00:00:00+00', 0, "
      "'qg: cancelled: by an operator at 2026-01-01T00:00:00Z'), "
      "(93, 'A', '9999-01-01 00:00:00+00', 2, "
      "'qg: cancelled: by an operator before it started') RETURNING 1");
  QG_ASSERT_OK_AND_ASSIGN(BulkResult dead,
                          admin_->RetryJobs({.state = JobState::kDead}));
  EXPECT_EQ(dead.changed, 1);
  EXPECT_EQ(dead.skipped_cancelled, 2);
  EXPECT_EQ(dead.skipped_moved, 0);
  QG_ASSERT_OK_AND_ASSIGN(BulkResult errored,
                          admin_->RetryJobs({.state = JobState::kErrored}));
  EXPECT_EQ(errored.skipped_cancelled, 1);  // 93; 91 runs now
  QG_ASSERT_OK_AND_ASSIGN(BulkResult any, admin_->RetryJobs({}));
  EXPECT_EQ(any.skipped_cancelled, 2);
  EXPECT_EQ(Query("SELECT string_agg(format('%s:%s', job_id, run_at <= now()), "
                  "' ' ORDER BY job_id) FROM que_jobs"),
            "91:t 92:f 93:f");
  // One by one, by id: revived, and the caller learns it was cancelled.
  QG_ASSERT_OK_AND_ASSIGN(RetriedJob retried, admin_->RetryJobDetailed(92));
  EXPECT_TRUE(retried.was_cancelled);
  EXPECT_TRUE(retried.was_dead);
  QG_ASSERT_OK(admin_->RetryJob(93));
  EXPECT_EQ(Query("SELECT string_agg(format('%s:%s:%s', job_id, "
                  "run_at <= now(), error_count), ' ' ORDER BY job_id) FROM "
                  "que_jobs"),
            "91:t:0 92:t:0 93:t:0");
  QG_ASSERT_OK_AND_ASSIGN(retried, admin_->RetryJobDetailed(91));
  EXPECT_FALSE(retried.was_cancelled);
  EXPECT_FALSE(retried.was_dead);
}

// Regression (issue 17, defect 3): cancelling a job that had died (or failed
// and waits for its retry) overwrote its last_error: "card declined" became
// "qg: cancelled: by an operator ...". The error it died of is kept under
// the cancel line; cancelling it again changes nothing.
TEST_F(AdminTest, CancelOfADeadJobKeepsTheErrorItDiedOf) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count, "
      "last_error) VALUES "
      "(94, 'A', '9999-01-01 00:00:00+00', 5, "
      "E'qg: dead after 5 attempts: card declined\\n  at billing.rb:3'), "
      "(95, 'A', now() + interval '1 hour', 1, 'timeout') RETURNING 1");
  QG_ASSERT_OK_AND_ASSIGN(CancelOutcome outcome, admin_->CancelJob(94));
  EXPECT_EQ(outcome, CancelOutcome::kCancelled);
  QG_ASSERT_OK_AND_ASSIGN(JobRecord job, admin_->GetJob(94));
  EXPECT_TRUE(job.cancelled());
  EXPECT_EQ(job.error_count, 5);
  EXPECT_THAT(job.last_error_line, ::testing::StartsWith("qg: cancelled"));
  EXPECT_THAT(job.last_error,
              HasSubstr("qg: dead after 5 attempts: card declined\n  at "
                        "billing.rb:3"));
  std::string first = job.last_error;
  QG_ASSERT_OK_AND_ASSIGN(outcome, admin_->CancelJob(94));
  EXPECT_EQ(outcome, CancelOutcome::kCancelled);
  QG_ASSERT_OK_AND_ASSIGN(job, admin_->GetJob(94));
  EXPECT_EQ(job.last_error, first);  // no second cancel line
  QG_ASSERT_OK(admin_->CancelJob(95).status());
  QG_ASSERT_OK_AND_ASSIGN(job, admin_->GetJob(95));
  EXPECT_TRUE(job.cancelled());
  EXPECT_THAT(job.last_error, HasSubstr("timeout"));
}

// Issue 17, defect 4: a cancel request applies to one run, while its
// requester waits. When that run ends during the wait (a foreign worker
// failed the job and let it go), the job is cancelled as it is; an
// interrupted requester withdraws its request and cancels nothing.
TEST_F(AdminTest, CancelFollowsTheRunItAskedAndWithdrawsWhenInterrupted) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class) VALUES (96, 'Ruby'), "
      "(97, 'Ruby') RETURNING 1");
  PgConnPtr ruby = HoldJobLock(96);
  absl::StatusOr<CancelOutcome> outcome;
  std::thread canceller(
      [&] { outcome = admin_->CancelJob(96, absl::Seconds(60)); });
  bool asked = qg_testing::WaitFor(
      [&] { return Query("SELECT count(*) FROM qg_cancellations") == "1"; });
  // The foreign worker's run fails the job and lets it go.
  Query(
      "UPDATE que_jobs SET error_count = 1, last_error = 'boom', run_at = "
      "now() + interval '1 minute' WHERE job_id = 96 RETURNING 1");
  ruby.reset();
  canceller.join();
  ASSERT_TRUE(asked);
  QG_ASSERT_OK(outcome.status());
  EXPECT_EQ(*outcome, CancelOutcome::kCancelled);
  QG_ASSERT_OK_AND_ASSIGN(JobRecord job, admin_->GetJob(96));
  EXPECT_TRUE(job.cancelled());
  EXPECT_THAT(job.last_error, HasSubstr("boom"));
  EXPECT_EQ(Query("SELECT count(*) FROM qg_cancellations"), "0");

  ruby = HoldJobLock(97);
  std::atomic<bool> stop{false};
  std::thread interrupted([&] {
    outcome =
        admin_->CancelJob(97, absl::Seconds(60), [&] { return stop.load(); });
  });
  asked = qg_testing::WaitFor(
      [&] { return Query("SELECT count(*) FROM qg_cancellations") == "1"; });
  stop = true;
  interrupted.join();
  ASSERT_TRUE(asked);
  EXPECT_THAT(outcome.status(),
              StatusIs(absl::StatusCode::kAborted,
                       HasSubstr("job 97 was not cancelled")));
  EXPECT_EQ(Query("SELECT count(*) FROM qg_cancellations"), "0");
  EXPECT_EQ(Query("SELECT run_at < '9999-01-01' FROM que_jobs WHERE job_id = "
                  "97"),
            "t");
}

TEST_F(AdminTest, ListsAndRemovesPeriodicSchedules) {
  QG_ASSERT_OK_AND_ASSIGN(std::vector<PeriodicInfo> none,
                          admin_->ListPeriodic());
  EXPECT_THAT(none, ::testing::IsEmpty());
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> client,
                          Client::Create({.conninfo = db_->conninfo()}));
  PeriodicEnqueuer periodic(client.get());
  QG_ASSERT_OK(periodic.Register({.name = "hourly",
                                  .schedule = "0 * * * *",
                                  .time_zone = "Europe/Berlin",
                                  .job = {.type = "Hourly"}}));
  QG_ASSERT_OK(periodic.RunOnce().status);  // creates the record
  QG_ASSERT_OK_AND_ASSIGN(std::vector<PeriodicInfo> list,
                          admin_->ListPeriodic());
  ASSERT_EQ(list.size(), 1u);
  const PeriodicInfo& info = list[0];
  EXPECT_EQ(info.name, "hourly");
  EXPECT_EQ(info.schedule, "0 * * * *");
  EXPECT_EQ(info.time_zone, "Europe/Berlin");
  EXPECT_TRUE(info.recorded);
  EXPECT_TRUE(info.registered);
  ASSERT_TRUE(info.last_occurrence.has_value());
  ASSERT_TRUE(info.next_occurrence.has_value());
  EXPECT_EQ(*info.next_occurrence - *info.last_occurrence, absl::Hours(1));
  EXPECT_GT(*info.next_occurrence, absl::Now());
  // As the library lists it.
  QG_ASSERT_OK_AND_ASSIGN(std::vector<PeriodicInfo> from_client,
                          ListPeriodic(*client));
  ASSERT_EQ(from_client.size(), 1u);
  EXPECT_EQ(from_client[0].next_occurrence, info.next_occurrence);
  // Not seen within a zero window: not registered.
  QG_ASSERT_OK_AND_ASSIGN(list, admin_->ListPeriodic(absl::ZeroDuration()));
  EXPECT_FALSE(list[0].registered);

  EXPECT_THAT(admin_->RemovePeriodic("nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("\"nope\"")));
  EXPECT_THAT(admin_->RemovePeriodic(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Query("SELECT count(*) FROM qg_periodic"), "1");
  QG_ASSERT_OK(admin_->RemovePeriodic("hourly"));
  EXPECT_EQ(Query("SELECT count(*) FROM qg_periodic"), "0");
  EXPECT_THAT(admin_->RemovePeriodic("hourly"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(AdminTest, PeriodicListingNeedsTheAdditions) {
  Query("DROP TABLE qg_periodic");
  EXPECT_THAT(
      admin_->ListPeriodic().status(),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("qg migrate")));
}

}  // namespace
}  // namespace qg
