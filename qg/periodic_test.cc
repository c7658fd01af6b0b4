// PeriodicEnqueuer against a real PostgreSQL, driven by a fake clock: each
// occurrence enqueued exactly once by any number of enqueuers and across
// restarts, the missed-occurrence policies, a DST change in the schedule's
// zone, listings, bad input, and the WorkerPool hook.
#include "qg/periodic.h"

#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
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
#include "qg/testing/example_job.pb.h"
#include "qg/testing/fake_clock.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"
#include "qg/testing/worker_modes.h"
#include "qg/typed.h"
#include "qg/worker/work_map.h"
#include "qg/worker/worker.h"

namespace qg {
namespace {

using ::qg_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

// A schedule `name` enqueueing jobs of `type` at `spec`.
PeriodicJob Every(std::string name, std::string spec, std::string type) {
  PeriodicJob job;
  job.name = std::move(name);
  job.schedule = std::move(spec);
  job.job.type = std::move(type);
  return job;
}

class PeriodicTest : public qg_testing::DatabaseTest {
 protected:
  PeriodicTest() : DatabaseTest(ClientDefaults(&clock_)) {}
  // client_ reads clock_, which goes before the base's members do.
  ~PeriodicTest() override { client_.reset(); }

  // Clients on `clock`.
  static ClientOptions ClientDefaults(const Clock* clock) {
    return {
        .max_conns = 4, .acquire_timeout = absl::Seconds(10), .clock = clock};
  }
  // Enqueuers that decide occurrences on the test's fake clock, shared by
  // every simulated process, instead of the database's.
  PeriodicOptions OnTestClock() { return {.clock = &clock_}; }
  // A client on the test's fake clock (one per simulated process).
  std::unique_ptr<Client> NewClient() {
    absl::StatusOr<std::unique_ptr<Client>> client =
        DatabaseTest::NewClient(ClientDefaults(&clock_));
    QG_EXPECT_OK(client.status());
    return client.ok() ? std::move(*client) : nullptr;
  }

  // The database's clock.
  absl::Time DbNow() {
    absl::StatusOr<absl::Time> t = ParseTimestamp(Query("SELECT now()::text"));
    QG_EXPECT_OK(t.status());
    return t.value_or(absl::InfinitePast());
  }
  // "count/distinct run_at" of the jobs of `type`.
  std::string Jobs(const std::string& type) {
    return Query(absl::StrCat(
        "SELECT count(*) || '/' || count(DISTINCT run_at) FROM que_jobs "
        "WHERE job_class = '",
        type, "'"));
  }
  // The run_ats of `type`'s jobs, oldest first, as RFC 3339 in UTC.
  std::string RunAts(const std::string& type) {
    return Query(absl::StrCat(
        "SELECT coalesce(string_agg(to_char(run_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ' ' ORDER BY run_at), '') "
        "FROM que_jobs WHERE job_class = '",
        type, "'"));
  }

  qg_testing::FakeClock clock_{At("2026-01-01T00:00:10Z")};
};

TEST_F(PeriodicTest, ThreeEnqueuersEnqueueEachOccurrenceOnceAcrossRestarts) {
  constexpr int kProcesses = 3;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kProcesses; ++i) clients.push_back(NewClient());
  std::vector<std::unique_ptr<PeriodicEnqueuer>> enqueuers;
  auto start_processes = [&] {
    enqueuers.clear();
    for (int i = 0; i < kProcesses; ++i) {
      enqueuers.push_back(
          std::make_unique<PeriodicEnqueuer>(clients[i].get(), OnTestClock()));
      QG_ASSERT_OK(
          enqueuers[i]->Register(Every("minutely", "* * * * *", "Minutely")));
      QG_ASSERT_OK(enqueuers[i]->Register(
          Every("half-minutely", "@every 30s", "HalfMinutely")));
    }
  };
  // Every process runs at once, as pools on three machines would.
  auto run_all = [&] {
    std::vector<PeriodicRunResult> results(kProcesses);
    std::vector<std::thread> threads;
    for (int i = 0; i < kProcesses; ++i) {
      threads.emplace_back([&, i] { results[i] = enqueuers[i]->RunOnce(); });
    }
    for (auto& t : threads) t.join();
    int enqueued = 0;
    for (const auto& r : results) {
      QG_EXPECT_OK(r.status);
      enqueued += static_cast<int>(r.enqueued.size());
    }
    return enqueued;
  };

  start_processes();
  EXPECT_EQ(run_all(), 0);  // new schedules start with their next occurrence
  int total = 0;
  for (int step = 0; step < 6; ++step) {  // 00:00:40 ... 00:03:10
    clock_.Advance(absl::Seconds(30));
    total += run_all();
    EXPECT_EQ(run_all(), 0) << "nothing is due twice";
  }
  EXPECT_EQ(Jobs("Minutely"), "3/3");
  EXPECT_EQ(Jobs("HalfMinutely"), "6/6");
  EXPECT_EQ(total, 9);
  EXPECT_EQ(RunAts("Minutely"),
            "2026-01-01T00:01:00Z 2026-01-01T00:02:00Z 2026-01-01T00:03:00Z");

  // A restart: new enqueuer objects know nothing; the records do.
  start_processes();
  EXPECT_EQ(run_all(), 0);
  for (int step = 0; step < 4; ++step) {  // ... 00:05:10
    clock_.Advance(absl::Seconds(30));
    run_all();
  }
  EXPECT_EQ(Jobs("Minutely"), "5/5");
  EXPECT_EQ(Jobs("HalfMinutely"), "10/10");
  EXPECT_EQ(Query("SELECT string_agg(name || '@' || to_char(last_occurrence "
                  "AT TIME ZONE 'UTC', 'HH24:MI:SS'), ' ' ORDER BY name) "
                  "FROM qg_periodic"),
            "half-minutely@00:05:00 minutely@00:05:00");
}

TEST_F(PeriodicTest, MissedOccurrencesEnqueueOnlyTheLatestByDefault) {
  PeriodicEnqueuer periodic(client_.get(), OnTestClock());
  QG_ASSERT_OK(periodic.Register(Every("five", "*/5 * * * *", "Five")));
  QG_ASSERT_OK(periodic.RunOnce().status);
  clock_.Set(At("2026-01-01T00:31:00Z"));  // 00:05 ... 00:30 were missed
  PeriodicRunResult r = periodic.RunOnce();
  QG_ASSERT_OK(r.status);
  ASSERT_EQ(r.enqueued.size(), 1);
  EXPECT_EQ(r.enqueued[0].name, "five");
  EXPECT_EQ(r.enqueued[0].occurrence, At("2026-01-01T00:30:00Z"));
  EXPECT_FALSE(r.enqueued[0].duplicate);
  EXPECT_EQ(RunAts("Five"), "2026-01-01T00:30:00Z");
  EXPECT_TRUE(periodic.RunOnce().enqueued.empty());
  EXPECT_EQ(Jobs("Five"), "1/1");
}

TEST_F(PeriodicTest, MissedOccurrencesAllUpToTheBound) {
  PeriodicEnqueuer periodic(client_.get(), OnTestClock());
  PeriodicJob job = Every("five", "*/5 * * * *", "Five");
  job.missed = MissedPolicy::kAll;
  job.max_catch_up = 4;
  QG_ASSERT_OK(periodic.Register(job));
  PeriodicJob few = Every("ten", "*/10 * * * *", "Ten");
  few.missed = MissedPolicy::kAll;
  QG_ASSERT_OK(periodic.Register(few));
  QG_ASSERT_OK(periodic.RunOnce().status);
  clock_.Set(At("2026-01-01T00:31:00Z"));
  PeriodicRunResult r = periodic.RunOnce();
  QG_ASSERT_OK(r.status);
  // Six were missed; the bound keeps the four most recent, oldest first.
  EXPECT_EQ(RunAts("Five"),
            "2026-01-01T00:15:00Z 2026-01-01T00:20:00Z 2026-01-01T00:25:00Z "
            "2026-01-01T00:30:00Z");
  EXPECT_EQ(RunAts("Ten"),
            "2026-01-01T00:10:00Z 2026-01-01T00:20:00Z 2026-01-01T00:30:00Z");
  EXPECT_EQ(r.enqueued.size(), 7);
  EXPECT_TRUE(periodic.RunOnce().enqueued.empty());
}

TEST_F(PeriodicTest, MissedOccurrencesSkippedWhenLatePastGrace) {
  PeriodicEnqueuer periodic(client_.get(), OnTestClock());
  PeriodicJob job = Every("five", "*/5 * * * *", "Five");
  job.missed = MissedPolicy::kSkip;
  job.grace = absl::Minutes(1);
  QG_ASSERT_OK(periodic.Register(job));
  QG_ASSERT_OK(periodic.RunOnce().status);
  clock_.Set(At("2026-01-01T00:32:00Z"));  // 00:30 is 2 minutes late
  QG_ASSERT_OK(periodic.RunOnce().status);
  EXPECT_EQ(Jobs("Five"), "0/0");
  EXPECT_EQ(Query("SELECT to_char(last_occurrence AT TIME ZONE 'UTC', "
                  "'HH24:MI') FROM qg_periodic"),
            "00:30");                      // handled (skipped): not tried again
  clock_.Set(At("2026-01-01T00:35:30Z"));  // on time
  QG_ASSERT_OK(periodic.RunOnce().status);
  EXPECT_EQ(RunAts("Five"), "2026-01-01T00:35:00Z");
}

TEST_F(PeriodicTest, DaylightSavingChangeFollowsTheSchedulesZone) {
  // New York springs forward on 2026-03-08 at 02:00 EST to 03:00 EDT, so
  // 02:30 does not exist that day and the job runs at 03:00 EDT (07:00Z).
  clock_.Set(At("2026-03-07T12:00:00Z"));
  PeriodicEnqueuer periodic(client_.get(), OnTestClock());
  PeriodicJob job = Every("nightly", "30 2 * * *", "Nightly");
  job.time_zone = "America/New_York";
  QG_ASSERT_OK(periodic.Register(job));
  QG_ASSERT_OK(periodic.RunOnce().status);
  for (const char* t : {"2026-03-08T06:59:59Z", "2026-03-08T07:00:01Z",
                        "2026-03-09T06:29:59Z", "2026-03-09T06:30:01Z"}) {
    clock_.Set(At(t));
    QG_ASSERT_OK(periodic.RunOnce().status);
  }
  // 02:30 EST would be 07:30Z; 02:30 EDT the next day is 06:30Z.
  EXPECT_EQ(RunAts("Nightly"), "2026-03-08T07:00:00Z 2026-03-09T06:30:00Z");
}

TEST_F(PeriodicTest, BadInputIsInvalidArgument) {
  PeriodicEnqueuer periodic(client_.get(), OnTestClock());
  QG_ASSERT_OK(periodic.Register(Every("ok", "@hourly", "Ok")));
  PeriodicJob bad_zone = Every("zone", "0 3 * * *", "Z");
  bad_zone.time_zone = "Mars/Olympus";
  PeriodicJob no_job = Every("no-job", "@daily", "");
  PeriodicJob bad_args = Every("bad-json", "@daily", "A");
  bad_args.job.args = "[1,";
  PeriodicJob bad_bound = Every("bound", "@daily", "B");
  bad_bound.max_catch_up = 0;
  PeriodicJob bad_grace = Every("grace", "@daily", "G");
  bad_grace.grace = absl::Seconds(-1);
  struct Case {
    PeriodicJob job;
    const char* message;
  } cases[] = {
      {Every("cron", "0 25 * * *", "C"), "out of range"},
      {Every("cron5", "* * * *", "C"), "has 4 fields"},
      {Every("every", "@every 0s", "E"), "@every"},
      {bad_zone, "Mars/Olympus"},
      {Every("", "@daily", "N"), "needs a name"},
      {Every(std::string("a\0b", 3), "@daily", "N"), "NUL"},
      {Every("ok", "@daily", "Dup"), "registered already"},
      {no_job, "builder"},
      {bad_args, "not valid JSON"},
      {bad_bound, "max_catch_up"},
      {bad_grace, "grace"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(
        periodic.Register(c.job),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.job.name;
  }
  EXPECT_THAT(periodic.names(), ElementsAre("ok"));
  PeriodicOptions options = OnTestClock();
  options.interval = absl::ZeroDuration();
  PeriodicEnqueuer bad_interval(client_.get(), options);
  EXPECT_THAT(bad_interval.Start(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(PeriodicTest, RemovedScheduleStopsAndListsAsNotRegistered) {
  {
    PeriodicEnqueuer before(client_.get(), OnTestClock());
    QG_ASSERT_OK(before.Register(Every("kept", "*/10 * * * *", "Kept")));
    QG_ASSERT_OK(before.Register(Every("dropped", "*/10 * * * *", "Dropped")));
    QG_ASSERT_OK(before.RunOnce().status);
    clock_.Set(At("2026-01-01T00:10:05Z"));
    ASSERT_EQ(before.RunOnce().enqueued.size(), 2);
  }
  // The next deploy no longer registers "dropped".
  PeriodicEnqueuer after(client_.get(), OnTestClock());
  QG_ASSERT_OK(after.Register(Every("kept", "*/10 * * * *", "Kept")));
  clock_.Set(At("2026-01-01T00:20:05Z"));
  PeriodicRunResult r = after.RunOnce();
  QG_ASSERT_OK(r.status);
  ASSERT_EQ(r.enqueued.size(), 1);
  EXPECT_EQ(r.enqueued[0].name, "kept");
  EXPECT_EQ(Jobs("Dropped"), "1/1");

  QG_ASSERT_OK_AND_ASSIGN(std::vector<PeriodicInfo> mine, after.List());
  ASSERT_EQ(mine.size(), 2);
  EXPECT_EQ(mine[0].name, "dropped");
  EXPECT_FALSE(mine[0].registered);
  EXPECT_TRUE(mine[0].recorded);
  EXPECT_EQ(mine[0].last_occurrence, At("2026-01-01T00:10:00Z"));
  EXPECT_EQ(mine[1].name, "kept");
  EXPECT_TRUE(mine[1].registered);
  EXPECT_EQ(mine[1].schedule, "*/10 * * * *");
  EXPECT_EQ(mine[1].time_zone, "UTC");
  EXPECT_EQ(mine[1].last_occurrence, At("2026-01-01T00:20:00Z"));
  EXPECT_EQ(mine[1].next_occurrence, At("2026-01-01T00:30:00Z"));
  EXPECT_EQ(mine[1].last_job_id, r.enqueued[0].job_id);

  // The admin view, from the database alone: "dropped" was last seen long
  // ago (the database's clock decides, so move its record back).
  QG_ASSERT_OK(qg::Exec(conn_.get(),
                        "UPDATE qg_periodic SET seen_at = now() - "
                        "interval '1 hour' WHERE name = 'dropped'")
                   .status());
  // It knows no enqueuer's clock: next occurrences follow the database's.
  absl::Time db_before = DbNow();
  QG_ASSERT_OK_AND_ASSIGN(std::vector<PeriodicInfo> all,
                          ListPeriodic(*client_));
  absl::Time db_after = DbNow();
  ASSERT_EQ(all.size(), 2);
  EXPECT_FALSE(all[0].registered);
  EXPECT_TRUE(all[1].registered);
  for (const PeriodicInfo& info : all) {
    ASSERT_TRUE(info.next_occurrence.has_value()) << info.name;
    EXPECT_GT(*info.next_occurrence, db_before) << info.name;
    EXPECT_LE(*info.next_occurrence, db_after + absl::Minutes(10)) << info.name;
    EXPECT_EQ(absl::ToUnixSeconds(*info.next_occurrence) % 600, 0) << info.name;
  }

  QG_EXPECT_OK(RemovePeriodic(*client_, "dropped"));
  EXPECT_THAT(RemovePeriodic(*client_, "dropped"),
              StatusIs(absl::StatusCode::kNotFound));
  QG_ASSERT_OK_AND_ASSIGN(all, ListPeriodic(*client_));
  EXPECT_EQ(all.size(), 1);
}

TEST_F(PeriodicTest, BuilderMakesATypedJobPerOccurrenceAndRetriesFailures) {
  PeriodicEnqueuer periodic(client_.get(), OnTestClock());
  std::atomic<bool> fail{true};
  PeriodicJob job;
  job.name = "mail";
  job.schedule = "*/15 * * * *";
  job.build = [&](absl::Time occurrence) -> absl::StatusOr<NewJob> {
    if (fail) return absl::UnavailableError("not today");
    qg_testing::example::SendEmail email;
    email.set_subject(
        absl::FormatTime("%H:%M", occurrence, absl::UTCTimeZone()));
    return NewTypedJob(email, {.queue = "mail"});
  };
  QG_ASSERT_OK(periodic.Register(job));
  QG_ASSERT_OK(periodic.RunOnce().status);
  clock_.Set(At("2026-01-01T00:15:01Z"));
  PeriodicRunResult failed = periodic.RunOnce();
  EXPECT_THAT(failed.status,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("not today")));
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
  fail = false;
  EXPECT_TRUE(periodic.RunOnce().enqueued.empty()) << "backs off for 1s";
  clock_.Advance(absl::Seconds(1));
  PeriodicRunResult r = periodic.RunOnce();
  QG_ASSERT_OK(r.status);
  ASSERT_EQ(r.enqueued.size(), 1);
  EXPECT_EQ(Query("SELECT queue || ' ' || job_class || ' ' || args::text "
                  "FROM que_jobs"),
            R"(mail qg_testing.example.SendEmail {"subject":"00:15"})");
}

TEST_F(PeriodicTest, UniquePeriodicJobCountsItsOccurrenceAsHandled) {
  PeriodicEnqueuer periodic(client_.get(), OnTestClock());
  PeriodicJob job = Every("sync", "@every 1m", "Sync");
  job.job.unique = UniqueOpts{};  // at most one Sync pending at a time
  QG_ASSERT_OK(periodic.Register(job));
  QG_ASSERT_OK(periodic.RunOnce().status);
  clock_.Advance(absl::Minutes(1));
  PeriodicRunResult first = periodic.RunOnce();
  ASSERT_EQ(first.enqueued.size(), 1);
  EXPECT_FALSE(first.enqueued[0].duplicate);
  clock_.Advance(absl::Minutes(1));  // the first has not run yet
  PeriodicRunResult second = periodic.RunOnce();
  ASSERT_EQ(second.enqueued.size(), 1);
  EXPECT_TRUE(second.enqueued[0].duplicate);
  EXPECT_EQ(second.enqueued[0].job_id, first.enqueued[0].job_id);
  EXPECT_EQ(Jobs("Sync"), "1/1");
  EXPECT_TRUE(periodic.RunOnce().enqueued.empty());
}

TEST_F(PeriodicTest, WithoutTheTableFailedPrecondition) {
  QG_ASSERT_OK(qg::ExecSimple(conn_.get(), "DROP TABLE qg_periodic").status());
  PeriodicEnqueuer periodic(client_.get(), OnTestClock());
  QG_ASSERT_OK(periodic.Register(Every("x", "@hourly", "X")));
  EXPECT_THAT(periodic.Start(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("qg migrate")));
  EXPECT_THAT(
      periodic.RunOnce().status,
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("qg migrate")));
  EXPECT_THAT(ListPeriodic(*client_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // A pool pointed at it does not start.
  WorkMap work_map;
  WorkerOptions options;
  options.periodic = &periodic;
  WorkerPool pool(client_.get(), &work_map, 1, options);
  EXPECT_THAT(pool.Start(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// Regression (issue 17, defect 6): an exception from a builder escaped
// RunOnce() (and, on the enqueuer's thread, terminated the process). It is
// now the occurrence's error: the transaction rolls back (no job, no lock,
// the record unchanged) and the occurrence is tried again after the backoff.
TEST_F(PeriodicTest,
       ABuilderThatThrowsFailsItsOccurrenceAndLeavesNothingBehind) {
  PeriodicEnqueuer periodic(client_.get(), OnTestClock());
  std::atomic<int> calls{0};
  PeriodicJob job;
  job.name = "throws";
  job.schedule = "*/15 * * * *";
  job.build = [&](absl::Time) -> absl::StatusOr<NewJob> {
    int call = ++calls;
    if (call == 1) throw std::runtime_error("boom");
    if (call == 2) throw 42;
    return NewJob{.type = "Built"};
  };
  QG_ASSERT_OK(periodic.Register(job));
  QG_ASSERT_OK(periodic.RunOnce().status);
  clock_.Set(At("2026-01-01T00:15:01Z"));
  auto nothing_left = [&] {
    EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
    EXPECT_EQ(Query("SELECT to_char(last_occurrence AT TIME ZONE 'UTC', "
                    "'HH24:MI') FROM qg_periodic"),
              "00:00");
    EXPECT_EQ(Query("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND state LIKE 'idle in transaction%'"),
              "0");
    EXPECT_EQ(Query("SELECT count(*) FROM pg_locks l JOIN pg_class c ON "
                    "c.oid = l.relation WHERE c.relname = 'qg_periodic' AND "
                    "l.pid <> pg_backend_pid()"),
              "0");
  };
  PeriodicRunResult first = periodic.RunOnce();
  EXPECT_THAT(first.status,
              StatusIs(absl::StatusCode::kInternal, HasSubstr("threw: boom")));
  EXPECT_TRUE(first.enqueued.empty());
  nothing_left();
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(
      periodic.RunOnce().status,
      StatusIs(absl::StatusCode::kInternal, HasSubstr("threw an exception")));
  nothing_left();
  clock_.Advance(absl::Seconds(2));
  PeriodicRunResult r = periodic.RunOnce();
  QG_ASSERT_OK(r.status);
  ASSERT_EQ(r.enqueued.size(), 1);
  EXPECT_EQ(r.enqueued[0].occurrence, At("2026-01-01T00:15:00Z"));
  EXPECT_EQ(RunAts("Built"), "2026-01-01T00:15:00Z");
  EXPECT_THAT(logger_.text(), HasSubstr("boom"));
}

// A logger that throws: what RunOnce() logs is lost, nothing else is.
class ThrowingLogger : public Logger {
 public:
  void Log(LogLevel, absl::string_view message) override {
    ++lines;
    throw std::runtime_error(std::string(message));
  }
  std::atomic<int> lines{0};
};

// A clock that throws.
class ThrowingClock : public Clock {
 public:
  absl::Time Now() const override { throw std::logic_error("no time"); }
};

// Regression (issue 17, defect 6): no callback periodic.cc calls (builder,
// the client's logger, the clock) takes RunOnce() down.
TEST_F(PeriodicTest, ThrowingLoggersAndClocksAreErrorsNotExceptions) {
  ThrowingLogger logger;
  ClientOptions options = ClientDefaults(&clock_);
  options.logger = &logger;
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Client> client,
                          DatabaseTest::NewClient(options));
  PeriodicEnqueuer periodic(client.get(), OnTestClock());
  std::atomic<bool> fail{true};
  PeriodicJob job = Every("logged", "*/15 * * * *", "");
  job.build = [&](absl::Time) -> absl::StatusOr<NewJob> {
    if (fail) throw std::runtime_error("builder down");
    return NewJob{.type = "Logged"};
  };
  QG_ASSERT_OK(periodic.Register(job));
  QG_ASSERT_OK(periodic.RunOnce().status);
  clock_.Set(At("2026-01-01T00:15:01Z"));
  PeriodicRunResult failed = periodic.RunOnce();  // logs, and the log throws
  EXPECT_THAT(failed.status,
              StatusIs(absl::StatusCode::kInternal, HasSubstr("builder down")));
  EXPECT_GE(logger.lines, 1);
  fail = false;
  EXPECT_TRUE(periodic.RunOnce().enqueued.empty()) << "still backs off for 1s";
  clock_.Advance(absl::Seconds(1));
  PeriodicRunResult r = periodic.RunOnce();
  QG_ASSERT_OK(r.status);
  EXPECT_EQ(r.enqueued.size(), 1);

  ThrowingClock broken;
  PeriodicEnqueuer no_time(client_.get(), {.clock = &broken});
  QG_ASSERT_OK(no_time.Register(Every("no-time", "@every 1s", "NoTime")));
  EXPECT_THAT(no_time.RunOnce().status,
              StatusIs(absl::StatusCode::kInternal, HasSubstr("no time")));
  EXPECT_THAT(no_time.List(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("no time")));
}

// Regression (issue 17, defect 6): on the enqueuer's own thread, a throwing
// builder and a throwing logger terminated the process. The thread goes on
// (retrying with backoff) until Stop().
TEST(PeriodicThreadTest, SurvivesThrowingBuildersAndLoggers) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  ThrowingLogger logger;
  QG_ASSERT_OK_AND_ASSIGN(
      auto client,
      Client::Create({.conninfo = db->conninfo(), .logger = &logger}));
  PeriodicEnqueuer periodic(client.get(),
                            {.interval = absl::Milliseconds(100)});
  std::atomic<int> calls{0};
  PeriodicJob job = Every("throws", "@every 1s", "");
  job.build = [&](absl::Time) -> absl::StatusOr<NewJob> {
    ++calls;
    throw std::runtime_error("builder down");
  };
  QG_ASSERT_OK(periodic.Register(job));
  QG_ASSERT_OK(periodic.Start());
  EXPECT_TRUE(
      qg_testing::WaitFor([&] { return calls >= 2; }, absl::Seconds(30)));
  periodic.Stop();
  EXPECT_GE(logger.lines, 2);
  QG_ASSERT_OK_AND_ASSIGN(auto conn, qg::Connect(db->conninfo()));
  EXPECT_EQ(qg_testing::QueryValue(conn.get(), "SELECT count(*) FROM que_jobs"),
            "0");
}

// Enqueuers on the database's clock (the default) on hosts whose own clocks
// are wrong, in real time, on a schedule "@every 1s" that enqueues every
// occurrence (kAll), so that a lost occurrence shows as a gap.
class PeriodicClockTest : public qg_testing::DatabaseTest {
 protected:
  // A client on `clock` (nullptr: the real clock), as a host's would be.
  std::unique_ptr<Client> ClientOn(const Clock* clock) {
    absl::StatusOr<std::unique_ptr<Client>> client = NewClient(
        {.max_conns = 2, .acquire_timeout = absl::Seconds(10), .clock = clock});
    QG_EXPECT_OK(client.status());
    return client.ok() ? std::move(*client) : nullptr;
  }
  static PeriodicJob Ticks() {
    PeriodicJob job = Every("tick", "@every 1s", "Tick");
    job.missed = MissedPolicy::kAll;
    return job;
  }
  // Runs `enqueuers` at once (a thread each, as on several hosts), after
  // `before`, round after round, until they enqueued `want` occurrences
  // between them; false if that takes longer than 30 seconds.
  bool RunUntil(const std::vector<PeriodicEnqueuer*>& enqueuers,
                const std::function<void()>& before, int want) {
    int enqueued = 0;
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (enqueued < want && absl::Now() < deadline) {
      before();
      std::vector<PeriodicRunResult> results(enqueuers.size());
      std::vector<std::thread> threads;
      for (size_t i = 0; i < enqueuers.size(); ++i) {
        threads.emplace_back([&, i] { results[i] = enqueuers[i]->RunOnce(); });
      }
      for (auto& t : threads) t.join();
      for (const PeriodicRunResult& r : results) {
        QG_EXPECT_OK(r.status);
        enqueued += static_cast<int>(r.enqueued.size());
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return enqueued >= want;
  }
  // Each occurrence on the database's clock got exactly one job: none ahead
  // of it, none twice, none missed between the first and the last.
  void ExpectEachOccurrenceOnce() {
    EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE run_at > now()"), "0")
        << "jobs enqueued ahead of the database's clock";
    EXPECT_EQ(Query("SELECT count(*) - count(DISTINCT run_at) FROM que_jobs"),
              "0")
        << "occurrences enqueued twice";
    EXPECT_EQ(Query("SELECT extract(epoch FROM max(run_at) - min(run_at))::int"
                    " + 1 - count(*) FROM que_jobs"),
              "0")
        << "occurrences missed";
    EXPECT_EQ(Query("SELECT last_occurrence <= now() FROM qg_periodic"), "t");
  }
};

// Regression (issue 17, defect 5): an enqueuer whose clock was an hour ahead
// recorded a future occurrence, and enqueuers with correct clocks then
// skipped every occurrence for that hour.
TEST_F(PeriodicClockTest,
       AHostClockAnHourAheadNeitherRunsEarlyNorSilencesOthers) {
  qg_testing::FakeClock ahead_clock;
  auto host_clocks = [&] { ahead_clock.Set(absl::Now() + absl::Hours(1)); };
  host_clocks();
  std::unique_ptr<Client> correct_client = ClientOn(nullptr);
  std::unique_ptr<Client> ahead_client = ClientOn(&ahead_clock);
  PeriodicEnqueuer correct(correct_client.get());
  PeriodicEnqueuer ahead(ahead_client.get());
  QG_ASSERT_OK(correct.Register(Ticks()));
  QG_ASSERT_OK(ahead.Register(Ticks()));
  EXPECT_TRUE(RunUntil({&ahead, &correct}, host_clocks, 4));
  // The correct host alone, after the one ahead has run.
  QG_EXPECT_OK(ahead.RunOnce().status);
  EXPECT_TRUE(RunUntil({&correct}, host_clocks, 3))
      << "the host with the correct clock was silenced";
  ExpectEachOccurrenceOnce();
}

// Regression (issue 17, defect 5): a host whose clock ran an hour ahead and
// was then stepped back (to an hour behind) left a record in the future:
// nobody enqueued anything for an hour.
TEST_F(PeriodicClockTest, AHostClockSteppedBackNeitherRepeatsNorSilences) {
  qg_testing::FakeClock stepped_clock(absl::Now() + absl::Hours(1));
  std::unique_ptr<Client> correct_client = ClientOn(nullptr);
  std::unique_ptr<Client> stepped_client = ClientOn(&stepped_clock);
  PeriodicEnqueuer correct(correct_client.get());
  PeriodicEnqueuer stepped(stepped_client.get());
  QG_ASSERT_OK(correct.Register(Ticks()));
  QG_ASSERT_OK(stepped.Register(Ticks()));
  QG_ASSERT_OK(stepped.RunOnce().status);  // an hour ahead
  EXPECT_TRUE(RunUntil(
      {&stepped, &correct},
      [&] { stepped_clock.Set(absl::Now() - absl::Hours(1)); }, 4));
  ExpectEachOccurrenceOnce();
}

// Regression (issue 17, defect 5): a record ahead of the database's clock
// (left by an older qg-cpp on a host whose clock was ahead, or written by
// hand) stopped the schedule until the clock caught up. It is not trusted:
// the due occurrence is enqueued and the record moved back to it.
TEST_F(PeriodicClockTest,
       ARecordAheadOfTheDatabaseClockDoesNotStopTheSchedule) {
  std::unique_ptr<Client> client_a = ClientOn(nullptr);
  std::unique_ptr<Client> client_b = ClientOn(nullptr);
  PeriodicEnqueuer a(client_a.get());
  PeriodicEnqueuer b(client_b.get());
  QG_ASSERT_OK(a.Register(Ticks()));
  QG_ASSERT_OK(b.Register(Ticks()));
  QG_ASSERT_OK(a.RunOnce().status);
  Query(
      "UPDATE qg_periodic SET last_occurrence = now() + interval '1 hour' "
      "RETURNING 1");
  // Both find it at once: one moves it back, the other sees that.
  auto nothing = [] {};
  EXPECT_TRUE(RunUntil({&a, &b}, nothing, 3));
  ExpectEachOccurrenceOnce();
  EXPECT_THAT(logger_.text(), HasSubstr("ahead of the database's clock"));
}

// A record a little ahead of the database's clock is what a small step back
// of that clock leaves (NTP): it is trusted, and the schedule waits for the
// clock to pass it rather than run an occurrence twice.
TEST_F(PeriodicClockTest, ARecordSecondsAheadIsWaitedForNotRunTwice) {
  std::unique_ptr<Client> client = ClientOn(nullptr);
  PeriodicEnqueuer periodic(client.get());
  QG_ASSERT_OK(periodic.Register(Ticks()));
  QG_ASSERT_OK(periodic.RunOnce().status);
  std::string recorded = Query(
      "UPDATE qg_periodic SET last_occurrence = date_trunc('second', now()) + "
      "interval '3 seconds' RETURNING last_occurrence::text");
  auto nothing = [] {};
  EXPECT_TRUE(RunUntil({&periodic}, nothing, 2));
  EXPECT_EQ(
      QueryInt("SELECT count(*) FROM que_jobs WHERE run_at <= $1", {recorded}),
      0)
      << "an occurrence up to the record's ran again";
  ExpectEachOccurrenceOnce();
  EXPECT_THAT(logger_.text(), Not(HasSubstr("not trusted")));
}

// Listings place the next occurrence on the database's clock too, not on the
// clock of the host that asks.
TEST_F(PeriodicClockTest, ListingsUseTheDatabaseClock) {
  qg_testing::FakeClock ahead_clock(absl::Now() + absl::Hours(1));
  std::unique_ptr<Client> ahead_client = ClientOn(&ahead_clock);
  PeriodicEnqueuer periodic(ahead_client.get());
  QG_ASSERT_OK(periodic.Register(Every("hourly", "@hourly", "Hourly")));
  auto db_now = [&] {
    absl::StatusOr<absl::Time> t = ParseTimestamp(Query("SELECT now()::text"));
    QG_EXPECT_OK(t.status());
    return t.value_or(absl::InfinitePast());
  };
  absl::Time before = db_now();
  QG_ASSERT_OK(periodic.RunOnce().status);
  QG_ASSERT_OK_AND_ASSIGN(std::vector<PeriodicInfo> mine, periodic.List());
  QG_ASSERT_OK_AND_ASSIGN(std::vector<PeriodicInfo> all,
                          ListPeriodic(*ahead_client));
  absl::Time after = db_now();
  for (const auto& list : {mine, all}) {
    ASSERT_EQ(list.size(), 1);
    ASSERT_TRUE(list[0].last_occurrence.has_value());
    ASSERT_TRUE(list[0].next_occurrence.has_value());
    EXPECT_LE(*list[0].last_occurrence, after);
    EXPECT_GT(*list[0].next_occurrence, before);
    EXPECT_LE(*list[0].next_occurrence, after + absl::Hours(1));
  }
}

// The grants README.md documents for a worker role, plus the one periodic
// jobs add, are enough for unique and periodic jobs.
TEST(PeriodicGrantsTest, UniqueAndPeriodicJobsWorkUnderTheDocumentedGrants) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(auto admin, qg::Connect(db->conninfo()));
  const std::string role = "qg_worker_" + db->name();
  QG_ASSERT_OK(
      qg::ExecSimple(
          admin.get(),
          absl::StrCat(
              "DROP ROLE IF EXISTS ", role, "; CREATE ROLE ", role,
              " LOGIN; GRANT USAGE ON SCHEMA public TO ", role,
              "; GRANT SELECT, INSERT, UPDATE, DELETE ON que_jobs TO ", role,
              "; GRANT USAGE ON SEQUENCE que_jobs_job_id_seq TO ", role,
              "; GRANT EXECUTE ON FUNCTION qg_lock_job(text, smallint, "
              "timestamptz, bigint) TO ",
              role, "; GRANT SELECT, INSERT, UPDATE ON qg_periodic TO ", role))
          .status());
  qg_testing::FakeClock clock(At("2026-01-01T00:00:10Z"));
  ClientOptions options;
  options.conninfo = absl::StrCat(db->conninfo(), " user=", role);
  options.clock = &clock;
  QG_ASSERT_OK_AND_ASSIGN(auto client, Client::Create(options));
  NewJob unique{.type = "U", .unique = UniqueOpts{}};
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult first, client->EnqueueDetailed(unique));
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult again, client->EnqueueDetailed(unique));
  EXPECT_EQ(again, (EnqueueResult{first.id, true}));
  QG_ASSERT_OK_AND_ASSIGN(auto many,
                          client->EnqueueManyDetailed({unique, {.type = "P"}}));
  EXPECT_TRUE(many[0].duplicate);
  PeriodicEnqueuer periodic(client.get(), {.clock = &clock});
  QG_ASSERT_OK(periodic.Register(Every("granted", "@every 1m", "Granted")));
  QG_ASSERT_OK(periodic.RunOnce().status);
  clock.Advance(absl::Minutes(1));
  PeriodicRunResult r = periodic.RunOnce();
  QG_ASSERT_OK(r.status);
  EXPECT_EQ(r.enqueued.size(), 1);
  QG_ASSERT_OK_AND_ASSIGN(auto listed, ListPeriodic(*client));
  EXPECT_EQ(listed.size(), 1);
  QG_ASSERT_OK(qg::ExecSimple(admin.get(), absl::StrCat("DROP OWNED BY ", role,
                                                        "; DROP ROLE ", role))
                   .status());
}

// The background thread on the real clock, started and stopped by a pool.
class PeriodicPoolTest : public ::testing::TestWithParam<WorkerMode> {};

TEST_P(PeriodicPoolTest, RunsInsideAWorkerPoolAndStopsWithIt) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  ClientOptions client_options;
  client_options.conninfo = db->conninfo();
  client_options.max_conns = 4;
  QG_ASSERT_OK_AND_ASSIGN(auto client, Client::Create(client_options));
  PeriodicEnqueuer periodic(client.get());
  QG_ASSERT_OK(periodic.Register(Every("tick", "@every 1s", "Tick")));
  std::atomic<int> ticks{0};
  WorkMap work_map;
  work_map.Register("Tick", [&](Job&) {
    ++ticks;
    return absl::OkStatus();
  });
  WorkerOptions options;
  options.mode = GetParam();
  options.interval = absl::Milliseconds(50);
  options.periodic = &periodic;
  WorkerPool pool(client.get(), &work_map, 1, options);
  QG_ASSERT_OK(pool.Start());
  EXPECT_TRUE(
      qg_testing::WaitFor([&] { return ticks >= 2; }, absl::Seconds(10)));
  pool.Shutdown();
  QG_ASSERT_OK_AND_ASSIGN(auto conn, qg::Connect(db->conninfo()));
  std::string jobs_then =
      qg_testing::QueryValue(conn.get(), "SELECT last_job_id FROM qg_periodic");
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_EQ(
      qg_testing::QueryValue(conn.get(), "SELECT last_job_id FROM qg_periodic"),
      jobs_then)
      << "nothing enqueued after Shutdown()";
  // Every occurrence while it ran got exactly one job.
  EXPECT_EQ(qg_testing::QueryValue(
                conn.get(),
                "SELECT count(*) FROM (SELECT run_at FROM que_jobs GROUP BY "
                "run_at HAVING count(*) > 1) d"),
            "0");
}

INSTANTIATE_TEST_SUITE_P(BothModes, PeriodicPoolTest,
                         qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

}  // namespace
}  // namespace qg
