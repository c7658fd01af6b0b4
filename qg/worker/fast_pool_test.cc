// The fast (batched) worker path against a real PostgreSQL: no leaked locks,
// no job run twice, peers' locks and deletions respected, order kept,
// NOTIFY wake-ups without polling, Job::Tx() atomicity.
#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/recorder.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"
#include "qg/worker/worker.h"

namespace qg {
namespace {

using ::qg_testing::WaitFor;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FastPoolTest : public qg_testing::DatabaseTest {
 protected:
  FastPoolTest() : DatabaseTest({.max_conns = 12}) {}
  absl::StatusOr<std::unique_ptr<Client>> NewClient() {
    return DatabaseTest::NewClient({.max_conns = 12});
  }
  void Insert(int n, const std::string& type = "Job") {
    Query(
        "INSERT INTO que_jobs (job_class, args) SELECT $1, format('[%s]', "
        "i)::json FROM generate_series(1, $2::int) i RETURNING 1",
        {type, absl::StrCat(n)});
  }
  // The index entries of que_jobs' primary key read so far, by every
  // session, once all but this test's connection have gone (a backend's
  // statistics reach the shared counters when it exits); -1 if they do not.
  int64_t PrimaryKeyEntriesRead() {
    if (!WaitFor([&] {
          return Query(
                     "SELECT count(*) FROM pg_stat_activity WHERE datname "
                     "= current_database() AND pid <> pg_backend_pid()") == "0";
        })) {
      ADD_FAILURE() << "other sessions of the test database did not exit";
      return -1;
    }
    Query("SELECT pg_stat_clear_snapshot() IS NULL");
    return QueryInt(
        "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE "
        "indexrelname = 'que_jobs_pkey'");
  }
  // Jobs 1..6 at priority 5, one second apart, an hour ago.
  void InsertSixAtPriority5() {
    Query(
        "INSERT INTO que_jobs (job_id, job_class, priority, run_at) SELECT i, "
        "'J', 5, now() - interval '1 hour' + i * interval '1 second' FROM "
        "generate_series(1, 6) i RETURNING 1");
  }
  // The key of job `id` (priority 5), as the pool keeps it.
  internal::JobKey KeyOf(int64_t id) {
    internal::JobKey k;
    k.priority = 5;
    k.run_at_text = Query("SELECT run_at FROM que_jobs WHERE job_id = $1",
                          {absl::StrCat(id)});
    k.id = id;
    return k;
  }
  // Once at least `holders` sessions hold advisory locks, terminates the
  // backend of the one with the lowest pid and returns how many advisory
  // locks it held; -1 (and a failure) if it could not.
  int64_t TerminateALockHolder(int holders) {
    std::string victim;
    if (!WaitFor([&] {
          victim = Query(absl::StrCat(
              "SELECT coalesce(min(pid)::text, '') FROM pg_locks WHERE "
              "locktype = 'advisory' AND pid <> pg_backend_pid() HAVING "
              "count(DISTINCT pid) >= ",
              holders));
          return !victim.empty() && victim != "<no row>";
        })) {
      ADD_FAILURE() << "fewer than " << holders << " sessions held locks";
      return -1;
    }
    const int64_t held =
        QueryInt(absl::StrCat("SELECT count(*) FROM pg_locks WHERE locktype = "
                              "'advisory' AND pid = ",
                              victim));
    EXPECT_EQ(Query(absl::StrCat("SELECT pg_terminate_backend(", victim, ")")),
              "t");
    return held;
  }
  static WorkerOptions Fast(absl::Duration interval = absl::Milliseconds(50)) {
    WorkerOptions options;
    options.mode = WorkerMode::kFast;
    options.interval = interval;
    return options;
  }
};

TEST_F(FastPoolTest, ManyPoolsNeverRunAJobTwiceNorLeakALock) {
  constexpr int kJobs = 4000;
  Insert(kJobs);
  std::mutex mu;
  absl::flat_hash_map<int64_t, int> runs;
  WorkMap work_map;
  work_map.Register("Job", [&](Job& job) {
    std::lock_guard<std::mutex> lock(mu);
    ++runs[job.id()];
    return absl::OkStatus();
  });
  // Three fast pools on their own clients and one qg-compatible pool, all on
  // the same queue.
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::unique_ptr<WorkerPool>> pools;
  for (int i = 0; i < 4; ++i) {
    QG_ASSERT_OK_AND_ASSIGN(auto client, NewClient());
    WorkerOptions options = Fast();
    if (i == 3) options.mode = WorkerMode::kQgCompat;
    pools.push_back(
        std::make_unique<WorkerPool>(client.get(), &work_map, 4, options));
    clients.push_back(std::move(client));
  }
  for (auto& pool : pools) QG_ASSERT_OK(pool->Start());
  EXPECT_EQ(pools[0]->mode(), WorkerMode::kFast);
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM que_jobs") == "0"; }));
  for (auto& pool : pools) pool->Shutdown();
  EXPECT_EQ(runs.size(), static_cast<size_t>(kJobs));
  int twice = 0;
  for (const auto& [id, n] : runs) twice += n > 1;
  EXPECT_EQ(twice, 0);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
}

// A pool idling on a queue that autovacuum left with no pages (analyzed
// empty) plans its statements there, and a session keeps its plans
// (generic ones after five runs): made on a table of no pages, the lock
// function's per-key re-check plans as a sequential scan, which beside
// 300,000 jobs took 6-7 s per lock call in a session without the locker's
// planner settings. A burst arriving before autovacuum analyzes again must
// not be walked sequentially by any statement of the pool.
TEST_F(FastPoolTest, PlansMadeOnAQueueOfNoPagesNeverScanItWhole) {
  QG_ASSERT_OK(ExecSimple(conn_.get(),
                          "ALTER TABLE que_jobs SET (autovacuum_enabled = "
                          "false); ANALYZE que_jobs")
                   .status());
  ASSERT_EQ(Query("SELECT relpages FROM pg_class WHERE relname = 'que_jobs'"),
            "0");
  std::atomic<int> ran{0};
  WorkMap work_map;
  work_map.Register("Job", [&](Job&) {
    ++ran;
    return absl::OkStatus();
  });
  QG_ASSERT_OK_AND_ASSIGN(auto client, NewClient());
  auto pool = std::make_unique<WorkerPool>(client.get(), &work_map, 4, Fast());
  QG_ASSERT_OK(pool->Start());
  // Idle: a lock call every poll interval (50 ms), well over five.
  absl::SleepFor(absl::Seconds(1));
  constexpr int kBurst = 10000;
  Insert(kBurst);
  EXPECT_TRUE(WaitFor([&] { return ran.load() == kBurst; }, absl::Minutes(3)));
  pool->Shutdown();
  pool.reset();
  client.reset();
  ASSERT_TRUE(WaitFor([&] {
    return Query(
               "SELECT count(*) FROM pg_stat_activity WHERE datname = "
               "current_database() AND pid <> pg_backend_pid()") == "0";
  }));
  Query("SELECT pg_stat_clear_snapshot() IS NULL");
  EXPECT_LT(QueryInt("SELECT seq_tup_read FROM pg_stat_user_tables WHERE "
                     "relname = 'que_jobs'"),
            kBurst)
      << "a statement of the pool read the queue sequentially";
  EXPECT_EQ(ran.load(), kBurst);
}

// WorkerOptions::sessions: one pool's workers spread over lanes, each with
// its own locker and writer sessions, together never run a job twice nor
// leak a lock, and more than one backend holds the pool's locks.
TEST_F(FastPoolTest, LanesShareThePoolsWorkAndNeverRunAJobTwice) {
  constexpr int kJobs = 3000;
  qg_testing::Recorder recorder;
  WorkMap work_map;
  work_map.Register("Job", [&](Job& job) {
    absl::SleepFor(absl::Milliseconds(2));
    recorder.Start(job.id());
    return absl::OkStatus();
  });
  WorkerOptions options = Fast();
  options.sessions = 4;
  WorkerPool pool(client_.get(), &work_map, 10, options);
  QG_ASSERT_OK(pool.Start());
  EXPECT_THAT(pool.mode_reason(), HasSubstr("4 locker sessions (lanes)"));
  Insert(kJobs);
  int most_holders = 0;
  std::string samples;
  EXPECT_TRUE(WaitFor([&] {
    absl::StrAppend(&samples, Query("SELECT count(*) FROM que_jobs"), "/",
                    Query("SELECT string_agg(DISTINCT pid::text, ',') FROM "
                          "pg_locks WHERE locktype = 'advisory'"),
                    " ");
    most_holders = std::max<int>(
        most_holders,
        QueryInt("SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = "
                 "'advisory' AND pid <> pg_backend_pid()"));
    return Query("SELECT count(*) FROM que_jobs") == "0";
  }));
  pool.Shutdown();
  EXPECT_GE(most_holders, 2) << samples;
  EXPECT_EQ(recorder.distinct(), kJobs);
  EXPECT_EQ(recorder.total(), kJobs) << "a job ran twice";
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
}

// sessions = 0 picks one lane per 4 workers, at most 4, and where the
// server is on this machine (the test server's socket) at most two or one
// per 4 of its cores: a pool of few workers keeps one lane.
TEST_F(FastPoolTest, AutomaticLanesLeaveALocalServerItsCores) {
  WorkMap work_map;
  WorkerOptions options = Fast();
  options.sessions = 0;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  for (int workers : {1, 7, 8, 32}) {
    WorkerPool pool(client_.get(), &work_map, workers, options);
    QG_ASSERT_OK(pool.Start());
    const int lanes =
        std::min({std::max(1, workers / 4), 4, std::max(2, cores / 4)});
    EXPECT_THAT(pool.mode_reason(),
                HasSubstr(lanes == 1 ? std::string("one locker session")
                                     : absl::StrCat(lanes, " locker sessions")))
        << workers << " workers, " << cores << " cores";
    pool.Shutdown();
  }
}

// A fixed buffer is the pool's, split over its lanes as the workers are:
// 2 workers in 2 lanes with buffer 2 hold 4 locks at most (2 running, 2
// ahead), not 2 more per lane.
TEST_F(FastPoolTest, AFixedBufferIsSplitOverTheLanes) {
  Insert(50);
  std::atomic<bool> go{false};
  std::atomic<int> started{0};
  WorkMap work_map;
  work_map.Register("Job", [&](Job&) {
    ++started;
    while (!go) absl::SleepFor(absl::Milliseconds(5));
    return absl::OkStatus();
  });
  WorkerOptions options = Fast();
  options.sessions = 2;
  options.buffer = 2;
  options.max_buffer_wait = absl::Hours(1);
  WorkerPool pool(client_.get(), &work_map, 2, options);
  QG_ASSERT_OK(pool.Start());
  const std::string locks =
      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'";
  ASSERT_TRUE(WaitFor([&] { return started == 2 && Query(locks) == "4"; }))
      << Query(locks) << " locks";
  // Settled: no lane locks more.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(Query(locks), "4");
  go = true;
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM que_jobs") == "0"; }));
  pool.Shutdown();
}

// A lane whose locker session dies loses only its own jobs' locks: the other
// lanes go on, the lane reconnects, and every job runs.
TEST_F(FastPoolTest, ALaneThatLosesItsSessionAffectsOnlyItsOwnJobs) {
  constexpr int kJobs = 1500;
  Insert(kJobs);
  qg_testing::Recorder recorder;
  WorkMap work_map;
  work_map.Register("Job", [&](Job& job) {
    absl::SleepFor(absl::Milliseconds(2));
    recorder.Start(job.id());
    return absl::OkStatus();
  });
  WorkerOptions options = Fast();
  options.sessions = 2;
  WorkerPool pool(client_.get(), &work_map, 4, options);
  QG_ASSERT_OK(pool.Start());
  // Both lanes hold locks; end the session of one of them.
  const int64_t held_by_victim = TerminateALockHolder(2);
  ASSERT_GE(held_by_victim, 0);
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM que_jobs") == "0"; }));
  pool.Shutdown();
  EXPECT_EQ(recorder.distinct(), kJobs);
  // Only jobs whose lock the victim held can have run again.
  EXPECT_LE(recorder.total() - recorder.distinct(), held_by_victim);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
}

// Counts the round trips whose lock scan was sent ahead.
class AheadCounter : public PoolObserver {
 public:
  void OnRoundTrip(const RoundTrip& r) override {
    if (r.sent_ahead) ahead_.fetch_add(1);
  }
  int ahead() const { return ahead_.load(); }

 private:
  std::atomic<int> ahead_{0};
};

// A draining pool sends its next lock scan as each answer comes in, so
// that the server scans while the pool takes the answer in. Each job still
// runs once; a pool shut down, or whose locker backend is terminated, with
// a scan in flight keeps no lock and loses no job, and only jobs whose
// lock the lost session held run again.
TEST_F(FastPoolTest,
       ScansSentAheadRunEachJobOnceThroughShutdownAndTermination) {
  constexpr int kJobs = 20000;
  Insert(kJobs);
  qg_testing::Recorder recorder;
  WorkMap work_map;
  work_map.Register("Job", [&](Job& job) {
    recorder.Start(job.id());
    return absl::OkStatus();
  });
  AheadCounter counter;
  WorkerOptions options = Fast();
  options.observer = &counter;
  // A small fixed buffer: a scan goes ahead when a quarter of it (10 jobs)
  // ran while the previous scan was in flight. An adaptive buffer is sized
  // from the handlers' run time, which leaves out the pool's own cost per
  // job; where that cost dominates (sanitizers) a quarter of the adaptive
  // buffer seldom drains within a round trip, and no scan went ahead in a
  // 3,000-job drain under ASan.
  options.buffer = 40;
  {
    // Shut down mid-drain.
    WorkerPool pool(client_.get(), &work_map, 1, options);
    QG_ASSERT_OK(pool.Start());
    ASSERT_TRUE(WaitFor([&] { return recorder.distinct() >= 3000; }));
    pool.Shutdown();
  }
  EXPECT_GT(counter.ahead(), 0);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM que_jobs") + recorder.distinct(),
            kJobs);
  EXPECT_EQ(recorder.total(), recorder.distinct());
  // Terminate the locker backend mid-drain, then drain the rest.
  const int before = counter.ahead();
  WorkerPool pool(client_.get(), &work_map, 1, options);
  QG_ASSERT_OK(pool.Start());
  const int ran_before = recorder.distinct();
  ASSERT_TRUE(WaitFor([&] {
    return recorder.distinct() >= ran_before + 3000 && counter.ahead() > before;
  }));
  const int64_t held_by_victim = TerminateALockHolder(1);
  ASSERT_GE(held_by_victim, 0);
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM que_jobs") == "0"; }));
  pool.Shutdown();
  EXPECT_EQ(recorder.distinct(), kJobs);
  EXPECT_LE(recorder.total() - recorder.distinct(), held_by_victim);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
}

// The ids of the rows qg_lock_jobs() locked, in order (the summary row has
// locked = false).
std::vector<std::string> LockedIds(const PgResult& r) {
  std::vector<std::string> ids;
  int locked = PQfnumber(r.get(), "locked");
  int id = PQfnumber(r.get(), "job_id");
  for (int i = 0; i < r.rows(); ++i) {
    if (r.Get(i, locked) == "t") ids.push_back(std::string(r.Get(i, id)));
  }
  return ids;
}

TEST_F(FastPoolTest, LockBatchHoldsExactlyTheLocksItReturnsInOrder) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, priority, run_at) VALUES "
      "(1, 'J', 5, now() - interval '1 min'), "
      "(2, 'J', 5, now() - interval '2 min'), "
      "(3, 'J', 1, now()), "
      "(4, 'J', 9, now() - interval '1 hour'), "
      "(5, 'J', 5, now() - interval '1 min'), "
      "(6, 'J', 1, now() + interval '1 hour') RETURNING 1");
  QG_ASSERT_OK_AND_ASSIGN(auto locker, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r,
      internal::Run(locker.get(),
                    internal::queries::LockJobs("", 3, {}, 100, std::nullopt)));
  EXPECT_THAT(LockedIds(r), ElementsAre("3", "2", "1"));
  EXPECT_EQ(Query("SELECT string_agg(objid::text, ',' ORDER BY objid) FROM "
                  "pg_locks WHERE locktype = 'advisory' AND pid = $1",
                  {absl::StrCat(PQbackendPID(locker.get()))}),
            "1,2,3");
  // Held ids are skipped, not locked again (session locks are re-entrant);
  // the future job 6 is not runnable.
  QG_ASSERT_OK_AND_ASSIGN(
      r,
      internal::Run(locker.get(), internal::queries::LockJobs(
                                      "", 10, {1, 2, 3}, 100, std::nullopt)));
  EXPECT_THAT(LockedIds(r), ElementsAre("5", "4"));
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                  "AND pid = $1",
                  {absl::StrCat(PQbackendPID(locker.get()))}),
            "5");
}

// A lock scan that fails part way keeps no lock it took: session advisory
// locks outlive the failed statement, and a job left locked would be held
// by nobody's job until the session ends. Here the server's lock table
// fills up while the scan locks (max_locks_per_transaction is small), in
// the set-based walk of a queue without limits; the jobs the pool already
// held stay held.
TEST(LockScanFailureTest, ScanFailingPartWayKeepsNoLockItTook) {
  QG_ASSERT_OK_AND_ASSIGN(auto server,
                          qg::EmbeddedPostgres::Start(
                              {.settings = {{"max_locks_per_transaction", "10"},
                                            {"max_connections", "10"}}}));
  QG_ASSERT_OK_AND_ASSIGN(std::string name, server->CreateDatabase());
  QG_ASSERT_OK_AND_ASSIGN(auto admin, qg::Connect(server->ConninfoFor(name)));
  QG_ASSERT_OK(qg::ExecSimple(admin.get(),
                              "INSERT INTO que_jobs (job_class, run_at) "
                              "SELECT 'J', now() - interval '1 min' "
                              "FROM generate_series(1, 5000)")
                   .status());
  QG_ASSERT_OK_AND_ASSIGN(auto locker, qg::Connect(server->ConninfoFor(name)));
  // The pool holds the first 20 (locked by an earlier scan).
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult first,
      internal::Run(locker.get(), internal::queries::LockJobs("", 20, {}, 100,
                                                              std::nullopt)));
  std::vector<std::string> held_ids = LockedIds(first);
  ASSERT_EQ(held_ids.size(), 20u);
  std::vector<int64_t> held;
  for (const std::string& id : held_ids) {
    int64_t v = 0;
    ASSERT_TRUE(absl::SimpleAtoi(id, &v));
    held.push_back(v);
  }
  // A scan from the head (the held jobs listed) that wants them all.
  absl::StatusOr<PgResult> r = internal::Run(
      locker.get(),
      internal::queries::LockJobs("", 5000, held, 6000, std::nullopt));
  ASSERT_FALSE(r.ok()) << "the lock table did not fill up";
  EXPECT_THAT(r.status().message(), HasSubstr("shared memory"));
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult locks,
      qg::Exec(admin.get(),
               "SELECT count(*), count(*) FILTER (WHERE objid = ANY($2)) "
               "FROM pg_locks WHERE locktype = 'advisory' AND pid = $1",
               {absl::StrCat(PQbackendPID(locker.get())),
                absl::StrCat("{", absl::StrJoin(held, ","), "}")}));
  EXPECT_EQ(locks.Get(0, 0), "20") << "locks left by the failed scan";
  EXPECT_EQ(locks.Get(0, 1), "20") << "the pool's own jobs let go";
}

TEST_F(FastPoolTest, LockScanContinuesAfterTheCursorAndReportsHowFarItWent) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, priority, run_at) SELECT i, "
      "'J', CASE WHEN i > 6 THEN 7 ELSE 5 END, now() - interval '1 hour' + "
      "i * interval '1 second' FROM generate_series(1, 10) i RETURNING 1");
  QG_ASSERT_OK_AND_ASSIGN(auto locker, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r,
      internal::Run(locker.get(),
                    internal::queries::LockJobs("", 2, {}, 100, std::nullopt)));
  ASSERT_EQ(r.rows(), 3);
  EXPECT_THAT(LockedIds(r), ElementsAre("1", "2"));
  // The summary: 2 looked at, not exhausted, last key = job 2's.
  EXPECT_EQ(r.Get(2, PQfnumber(r.get(), "scanned")), "2");
  EXPECT_EQ(r.Get(2, PQfnumber(r.get(), "exhausted")), "f");
  EXPECT_EQ(r.Get(2, PQfnumber(r.get(), "job_id")), "2");
  internal::JobKey after;
  after.priority = 5;
  after.run_at_text = std::string(r.Get(2, PQfnumber(r.get(), "run_at")));
  after.id = 2;
  // From the cursor, across priorities, to the end; a peer holds job 4.
  QG_ASSERT_OK_AND_ASSIGN(auto peer, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK(qg::Exec(peer.get(), "SELECT pg_advisory_lock(4)").status());
  QG_ASSERT_OK_AND_ASSIGN(
      r, internal::Run(locker.get(), internal::queries::LockJobs(
                                         "", 100, {1, 2}, 100, after)));
  EXPECT_THAT(LockedIds(r), ElementsAre("3", "5", "6", "7", "8", "9", "10"));
  int last = r.rows() - 1;
  EXPECT_EQ(r.Get(last, PQfnumber(r.get(), "scanned")), "8");
  EXPECT_EQ(r.Get(last, PQfnumber(r.get(), "exhausted")), "t");
  // max_scan bounds the scan: held rows count as looked at.
  QG_ASSERT_OK(
      qg::Exec(locker.get(), "SELECT pg_advisory_unlock_all()").status());
  QG_ASSERT_OK_AND_ASSIGN(
      r, internal::Run(locker.get(), internal::queries::LockJobs(
                                         "", 100, {1, 2, 3}, 3, std::nullopt)));
  EXPECT_THAT(LockedIds(r), ElementsAre());
  EXPECT_EQ(r.Get(r.rows() - 1, PQfnumber(r.get(), "scanned")), "3");
  EXPECT_EQ(r.Get(r.rows() - 1, PQfnumber(r.get(), "exhausted")), "f");
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                  "AND pid = $1",
                  {absl::StrCat(PQbackendPID(locker.get()))}),
            "0");
}

// The rewind pass reads its range and no further whatever plan the session
// keeps: a generic plan (plpgsql's, after five calls) bounds the index scan
// only with values, not with a condition on which pass it is, and a bound
// left as a filter read every due job after the cursor (5,000 here) in
// each call whose rewind did not fill the batch.
TEST_F(FastPoolTest, RewindReadsOnlyItsRangeWhateverThePlan) {
  InsertSixAtPriority5();
  Query(
      "INSERT INTO que_jobs (job_id, job_class, priority, run_at) SELECT "
      "100 + i, 'J', 5, now() - interval '30 minutes' + i * interval '1 "
      "millisecond' FROM generate_series(1, 5000) i RETURNING 1");
  QG_ASSERT_OK_AND_ASSIGN(auto locker, qg::Connect(db_->conninfo()));
  // The locker session's planner settings, and the plan a session keeps.
  QG_ASSERT_OK(internal::Run(locker.get(), internal::queries::LockerSettings())
                   .status());
  QG_ASSERT_OK(qg::ExecSimple(locker.get(),
                              "SET plan_cache_mode = force_generic_plan; "
                              "BEGIN")
                   .status());
  internal::JobKey cursor = KeyOf(4);
  internal::JobKey rewind = KeyOf(2);
  rewind.id = 1;
  // The rewind holds 2, 3, 4; the fourth job comes from after the cursor.
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r,
      internal::Run(locker.get(), internal::queries::LockJobs("", 4, {}, 10,
                                                              cursor, rewind)));
  EXPECT_THAT(LockedIds(r), ElementsAre("2", "3", "4", "5"));
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult read,
      qg::Exec(locker.get(),
               "SELECT pg_stat_get_xact_tuples_returned('que_jobs_pkey'::"
               "regclass)"));
  int64_t entries = 0;
  ASSERT_TRUE(absl::SimpleAtoi(read.Get(0, 0), &entries));
  EXPECT_LT(entries, 500) << "index entries the lock call read";
  QG_ASSERT_OK(qg::ExecSimple(locker.get(), "COMMIT").status());
}

TEST_F(FastPoolTest, LockScanRewindsARangeBehindTheCursorFirst) {
  // Jobs 1..6 at priority 5, one second apart; the cursor is at job 4.
  InsertSixAtPriority5();
  QG_ASSERT_OK_AND_ASSIGN(auto locker, qg::Connect(db_->conninfo()));
  internal::JobKey cursor = KeyOf(4);
  // Without a rewind the scan sees only 5 and 6.
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r, internal::Run(locker.get(), internal::queries::LockJobs(
                                                  "", 10, {}, 100, cursor)));
  EXPECT_THAT(LockedIds(r), ElementsAre("5", "6"));
  QG_ASSERT_OK(
      qg::Exec(locker.get(), "SELECT pg_advisory_unlock_all()").status());
  // Rewinding from just before job 2: 2, 3, 4 (up to the cursor, included),
  // then 5, 6 after it; the cursor moves to 6; the rewind was covered.
  internal::JobKey rewind = KeyOf(2);
  rewind.id = 1;
  QG_ASSERT_OK_AND_ASSIGN(
      r, internal::Run(locker.get(), internal::queries::LockJobs(
                                         "", 10, {}, 100, cursor, rewind)));
  EXPECT_THAT(LockedIds(r), ElementsAre("2", "3", "4", "5", "6"));
  int last = r.rows() - 1;
  EXPECT_EQ(r.Get(last, PQfnumber(r.get(), "job_id")), "6");
  EXPECT_TRUE(r.IsNull(last, PQfnumber(r.get(), "rewind_job_id")));
  EXPECT_EQ(r.Get(last, PQfnumber(r.get(), "exhausted")), "t");
  QG_ASSERT_OK(
      qg::Exec(locker.get(), "SELECT pg_advisory_unlock_all()").status());
  // From the head, stopped by max_scan inside the rewind: the summary says
  // where it stopped, the cursor does not move (no key after it).
  internal::JobKey head;
  head.priority = -32768;
  head.run_at = absl::InfinitePast();
  head.id = std::numeric_limits<int64_t>::min();
  QG_ASSERT_OK_AND_ASSIGN(
      r, internal::Run(locker.get(), internal::queries::LockJobs(
                                         "", 10, {}, 2, cursor, head)));
  EXPECT_THAT(LockedIds(r), ElementsAre("1", "2"));
  last = r.rows() - 1;
  EXPECT_TRUE(r.IsNull(last, PQfnumber(r.get(), "job_id")));
  EXPECT_EQ(r.Get(last, PQfnumber(r.get(), "rewind_job_id")), "2");
  EXPECT_EQ(r.Get(last, PQfnumber(r.get(), "exhausted")), "f");
}

TEST_F(FastPoolTest, SweepFindsRunnableJobsNobodyHoldsBehindTheCursor) {
  // Jobs 1..6 due an hour ago, 7 due this instant, 8 in an hour.
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at) SELECT i, 'J', now() "
      "- interval '1 hour' + i * interval '1 second' FROM generate_series(1, "
      "6) i RETURNING 1");
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at) VALUES (7, 'J', "
      "now()), (8, 'J', now() + interval '1 hour') RETURNING 1");
  // A peer holds 2; the cursor is at 5.
  QG_ASSERT_OK_AND_ASSIGN(auto peer, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK(qg::Exec(peer.get(), "SELECT pg_advisory_lock(2)").status());
  internal::JobKey cursor;
  cursor.priority = 100;
  cursor.run_at_text = Query("SELECT run_at FROM que_jobs WHERE job_id = 5");
  cursor.id = 5;
  QG_ASSERT_OK_AND_ASSIGN(auto sweeper, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r, internal::Run(sweeper.get(), internal::queries::Sweep(
                                                   "", cursor, 10, 1000)));
  // 1, 3, 4, 5 (the cursor's own row included): not 2 (held), not 6 (after
  // the cursor), not 7 (due less than a second ago: the locker's), not 8.
  std::vector<std::string> free;
  int id = PQfnumber(r.get(), "job_id");
  for (int i = 0; i + 1 < r.rows(); ++i) free.emplace_back(r.Get(i, id));
  EXPECT_THAT(free, ElementsAre("1", "3", "4", "5"));
  // The last row: the next due job (8) in about an hour.
  int last = r.rows() - 1;
  EXPECT_TRUE(r.IsNull(last, id));
  double due_in = 0;
  ASSERT_TRUE(
      absl::SimpleAtod(r.Get(last, PQfnumber(r.get(), "due_in")), &due_in));
  EXPECT_NEAR(due_in, 3600, 5);
  // It holds nothing afterwards; `want` bounds what it returns.
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                  "AND pid = $1",
                  {absl::StrCat(PQbackendPID(sweeper.get()))}),
            "0");
  QG_ASSERT_OK_AND_ASSIGN(
      r, internal::Run(sweeper.get(),
                       internal::queries::Sweep("", cursor, 2, 1000)));
  EXPECT_EQ(r.rows(), 3);
  // No cursor: only the next due time.
  QG_ASSERT_OK_AND_ASSIGN(
      r, internal::Run(sweeper.get(),
                       internal::queries::Sweep("", std::nullopt, 10, 1000)));
  EXPECT_EQ(r.rows(), 1);
}

TEST_F(FastPoolTest, JobsLockedOrDeletedByAPeerAreSkipped) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, priority) VALUES "
      "(1, 'J', 1), (2, 'J', 2), (3, 'J', 3) RETURNING 1");
  // A peer (say a Ruby worker) holds job 1.
  QG_ASSERT_OK_AND_ASSIGN(auto peer, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK(qg::Exec(peer.get(), "SELECT pg_advisory_lock(1)").status());
  QG_ASSERT_OK_AND_ASSIGN(auto locker, qg::Connect(db_->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r,
      internal::Run(locker.get(),
                    internal::queries::LockJobs("", 1, {}, 100, std::nullopt)));
  EXPECT_THAT(LockedIds(r), ElementsAre("2"));
  // The re-check: a candidate whose row is gone under a fresh snapshot is
  // unlocked and reported as not locked.
  EXPECT_EQ(Query("SELECT qg_lock_job('', 3::smallint, now(), 999)"), "f");
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                  "AND objid = 999"),
            "0");
  QG_ASSERT_OK_AND_ASSIGN(auto key, qg::Exec(conn_.get(),
                                             "SELECT run_at FROM que_jobs "
                                             "WHERE job_id = 3"));
  EXPECT_EQ(Query("SELECT qg_lock_job('', 3::smallint, $1, 3)",
                  {std::string(key.Get(0, 0))}),
            "t");
}

TEST_F(FastPoolTest, OneWorkerRunsJobsInPriorityThenRunAtOrder) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, priority, run_at) VALUES "
      "(1, 'J', 5, now() - interval '1 min'), "
      "(2, 'J', 5, now() - interval '2 min'), "
      "(3, 'J', 1, now()), "
      "(4, 'J', 9, now() - interval '1 hour') RETURNING 1");
  std::mutex mu;
  std::vector<int64_t> order;
  WorkMap work_map;
  work_map.Register("J", [&](Job& job) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(job.id());
    return absl::OkStatus();
  });
  WorkerPool pool(client_.get(), &work_map, 1, Fast());
  QG_ASSERT_OK(pool.Start());
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM que_jobs") == "0"; }));
  pool.Shutdown();
  EXPECT_THAT(order, ElementsAre(3, 2, 1, 4));
}

// A Que worker never runs equal-priority due jobs out of job_id order. A
// pool that gives back a job locked ahead (it waited longer than
// max_buffer_wait behind a slow job) must take that job next when nobody else
// did, not one after it; with an adaptive and with a fixed buffer. The first
// job runs until the pool locks a job after the ones it gave back (what a
// pool out of order does), or for 40 times max_buffer_wait.
TEST_F(FastPoolTest, JobGivenBackIsTheNextTakenSoEqualPriorityJobsRunInOrder) {
  for (int buffer : {-1, 2}) {
    SCOPED_TRACE(absl::StrCat("buffer ", buffer));
    Query("TRUNCATE que_jobs");
    Query("SELECT setval('que_jobs_job_id_seq', 1, false)");
    Query(
        "INSERT INTO que_jobs (job_class, args) SELECT 'Slow', '[]' FROM "
        "generate_series(1, 8) RETURNING 1");
    QG_ASSERT_OK_AND_ASSIGN(PgConnPtr watcher, qg::Connect(db_->conninfo()));
    const int64_t ahead = buffer < 0 ? 2 : 1 + buffer;  // locked at start
    std::mutex mu;
    std::vector<int64_t> order;
    WorkMap work_map;
    work_map.Register("Slow", [&](Job& job) {
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(job.id());
      }
      if (job.id() != 1) return absl::OkStatus();
      WaitFor(
          [&] {
            return qg_testing::QueryValue(
                       watcher.get(),
                       "SELECT count(*) FROM pg_locks WHERE locktype = "
                       "'advisory' AND objid > $1",
                       {absl::StrCat(ahead)}) != "0";
          },
          absl::Seconds(2));
      return absl::OkStatus();
    });
    // Polling (and so sweeping) rarely, as by default: no sweep finds the
    // job given back before the worker is free.
    WorkerOptions options = Fast(absl::Seconds(5));
    options.max_buffer_wait = absl::Milliseconds(50);
    options.buffer = buffer;
    WorkerPool pool(client_.get(), &work_map, 1, options);
    QG_ASSERT_OK(pool.Start());
    EXPECT_TRUE(
        WaitFor([&] { return Query("SELECT count(*) FROM que_jobs") == "0"; }));
    pool.Shutdown();
    EXPECT_THAT(order, ElementsAre(1, 2, 3, 4, 5, 6, 7, 8));
  }
}

TEST_F(FastPoolTest, NotifyWakesAnIdlePoolWithPollingOff) {
  std::atomic<int> runs{0};
  WorkMap work_map;
  work_map.Register("Wake", [&](Job&) {
    ++runs;
    return absl::OkStatus();
  });
  WorkerPool pool(client_.get(), &work_map, 2, Fast(absl::Hours(1)));
  QG_ASSERT_OK(pool.Start());
  absl::SleepFor(absl::Milliseconds(100));  // idle, waiting
  QG_ASSERT_OK(client_->Enqueue({.type = "Wake"}).status());
  EXPECT_TRUE(WaitFor([&] { return runs == 1; }, absl::Seconds(10)));
  // A peer's plain INSERT (what Ruby Que does) wakes it too, via the trigger.
  Query("INSERT INTO que_jobs (job_class) VALUES ('Wake') RETURNING 1");
  EXPECT_TRUE(WaitFor([&] { return runs == 2; }, absl::Seconds(10)));
  // A scheduled job starts on time, without polling.
  absl::Time at = absl::Now() + absl::Seconds(1);
  QG_ASSERT_OK(client_->Enqueue({.type = "Wake", .run_at = at}).status());
  EXPECT_TRUE(WaitFor([&] { return runs == 3; }, absl::Seconds(10)));
  EXPECT_GE(absl::Now(), at);
  pool.Shutdown();
}

TEST_F(FastPoolTest, ErrorsAreRecordedInBatchesWithBackoff) {
  Insert(20, "Fails");
  WorkMap work_map;
  work_map.Register("Fails", [](Job&) { return absl::InternalError("nope"); });
  WorkerPool pool(client_.get(), &work_map, 4, Fast());
  QG_ASSERT_OK(pool.Start());
  EXPECT_TRUE(WaitFor([&] {
    return Query("SELECT count(*) FROM que_jobs WHERE error_count = 1") == "20";
  }));
  pool.Shutdown();
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE last_error = 'nope' AND "
                  "run_at > now() + interval '2 seconds'"),
            "20");
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
}

TEST_F(FastPoolTest, JobTxCommitsWithTheDeletionOrNotAtAll) {
  Query("CREATE TABLE effects (job_id bigint) ");
  Query(
      "INSERT INTO que_jobs (job_id, job_class, args) VALUES "
      "(1, 'Effect', '\"ok\"'), (2, 'Effect', '\"fail\"') RETURNING 1");
  WorkMap work_map;
  work_map.Register("Effect", [](Job& job) -> absl::Status {
    absl::StatusOr<Tx*> tx = job.Tx();
    if (!tx.ok()) return tx.status();
    absl::Status s =
        (*tx)
            ->Query("INSERT INTO effects VALUES ($1)", {absl::StrCat(job.id())})
            .status();
    if (!s.ok()) return s;
    if (job.args() == "\"fail\"") return absl::AbortedError("after writing");
    return absl::OkStatus();
  });
  WorkerPool pool(client_.get(), &work_map, 2, Fast());
  QG_ASSERT_OK(pool.Start());
  EXPECT_TRUE(WaitFor([&] {
    return Query("SELECT count(*) FROM que_jobs WHERE job_id = 1") == "0" &&
           Query("SELECT error_count FROM que_jobs WHERE job_id = 2") == "1";
  }));
  pool.Shutdown();
  EXPECT_EQ(Query("SELECT string_agg(job_id::text, ',') FROM effects"), "1");
  EXPECT_EQ(Query("SELECT last_error FROM que_jobs WHERE job_id = 2"),
            "after writing");
}

TEST_F(FastPoolTest, ShutdownReleasesJobsThatDidNotStart) {
  Insert(50, "Slow");
  std::atomic<int> started{0};
  WorkMap work_map;
  work_map.Register("Slow", [&](Job&) {
    ++started;
    absl::SleepFor(absl::Milliseconds(200));
    return absl::OkStatus();
  });
  WorkerPool pool(client_.get(), &work_map, 2, Fast());
  QG_ASSERT_OK(pool.Start());
  EXPECT_TRUE(WaitFor([&] { return started >= 2; }));
  pool.Shutdown();
  int done = 50 - std::stoi(Query("SELECT count(*) FROM que_jobs"));
  EXPECT_EQ(done, started.load());  // every started job finished
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
}

// A pool's statements are planned once per session and their plans kept. A
// pool that starts on an empty queue and is then handed a big one (the usual
// day of a queue: drained, then bulk-loaded; autovacuum not yet round) must
// still read a few index entries per job, not the whole queue per lock
// round trip or re-check (a join or a hashed subquery over the queue's index
// did, until the next ANALYZE: s7 of //tools:bench drained 1-9k jobs/s
// instead of 24k for the first 15-45 s of blocked vacuum).
TEST_F(FastPoolTest, PlansMadeOnAnEmptyQueueStillReadFewIndexEntriesPerJob) {
  Query("ALTER TABLE que_jobs SET (autovacuum_enabled = false)");
  Query("ANALYZE que_jobs");
  std::atomic<int> runs{0};
  WorkMap work_map;
  work_map.Register("Job", [&](Job&) {
    ++runs;
    absl::SleepFor(absl::Microseconds(100));
    return absl::OkStatus();
  });
  QG_ASSERT_OK_AND_ASSIGN(auto client, NewClient());
  // Jobs wait in a buffer of 200 longer than recheck_after: they are
  // re-checked before they start (qg_confirm_batch), besides the lock
  // scan's own check of each row it locks.
  WorkerOptions options = Fast(absl::Hours(1));  // no sweeps but the first
  options.buffer = 200;
  options.recheck_after = absl::Milliseconds(5);
  auto pool = std::make_unique<WorkerPool>(client.get(), &work_map, 4, options);
  QG_ASSERT_OK(pool->Start());
  // A few lock round trips on a near-empty queue: the plans are made.
  for (int i = 1; i <= 10; ++i) {
    QG_ASSERT_OK(client->Enqueue({.type = "Job"}).status());
    ASSERT_TRUE(WaitFor([&] { return runs == i; }));
  }
  constexpr int kJobs = 10000;
  Insert(kJobs);
  ASSERT_TRUE(WaitFor([&] { return runs == 10 + kJobs; }, absl::Seconds(120)));
  pool->Shutdown();
  pool.reset();
  client.reset();
  int64_t read = PrimaryKeyEntriesRead();
  // A lock and a delete read about one entry per job, and each re-check one
  // more: 5-10 per job here, more on a slower machine, where jobs wait
  // longer and are re-checked more often. A plan that reads the whole queue
  // per call read 278 per job.
  EXPECT_LT(read, 100 * kJobs) << read / double(kJobs) << " per job";
}

// The same when the statistics say the queue is empty because most of its
// rows are dead, as autovacuum's ANALYZE finds them while a long
// transaction keeps them: the writes of finished jobs must not walk the
// whole index either (a nested loop over all of it did: one 150-220 ms
// round trip after each such ANALYZE in s7).
TEST_F(FastPoolTest,
       PlansMadeWhileMostRowsAreDeadStillReadFewIndexEntriesPerJob) {
  Query("ALTER TABLE que_jobs SET (autovacuum_enabled = false)");
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr old, Connect(db_->conninfo()));
  // A snapshot older than the rows below: they stay in the index.
  QG_ASSERT_OK(
      ExecSimple(old.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ").status());
  ASSERT_EQ(qg_testing::QueryValue(old.get(), "SELECT 1"), "1");
  constexpr int kDead = 20000;
  Insert(kDead, "Gone");
  Query("DELETE FROM que_jobs");
  Query("ANALYZE que_jobs");
  std::atomic<int> runs{0};
  WorkMap work_map;
  work_map.Register("Job", [&](Job&) {
    ++runs;
    return absl::OkStatus();
  });
  QG_ASSERT_OK_AND_ASSIGN(auto client, NewClient());
  // No polling: the sweeps, which walk from the head, run once, at the
  // start, however long the drain takes (sanitizers).
  auto pool = std::make_unique<WorkerPool>(client.get(), &work_map, 4,
                                           Fast(absl::Hours(1)));
  QG_ASSERT_OK(pool->Start());
  constexpr int kJobs = 10000;
  Insert(kJobs);
  // What the pool said besides starting jobs: its round trips and errors.
  auto story = [&] {
    std::vector<std::string> lines;
    for (const std::string& m : logger_.messages()) {
      if (!absl::StartsWith(m, "qg: working job")) lines.push_back(m);
    }
    const size_t from = lines.size() > 80 ? lines.size() - 80 : 0;
    return absl::StrJoin(lines.begin() + from, lines.end(), "\n");
  };
  ASSERT_TRUE(WaitFor([&] { return runs >= kJobs; }, absl::Seconds(120)))
      << runs << " runs, " << CountJobs() - kDead << " jobs left\n"
      << story();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(runs, kJobs) << "jobs ran twice\n" << story();
  pool->Shutdown();
  pool.reset();
  client.reset();
  old.reset();
  int64_t read = PrimaryKeyEntriesRead();
  // Besides a few entries per job (more where jobs wait longer and are
  // re-checked more often), each walk from the head passes the dead
  // entries: the sweep at the start, and the lock scans and their
  // min(priority) until a scan finds a job. 12 per job here; a plan that
  // reads the whole index per write read 137.
  EXPECT_LT(read, 5 * kDead + 50 * kJobs) << read / double(kJobs) << " per job";
}

TEST_F(FastPoolTest, FallsBackToQgCompatWithoutTheLockFunction) {
  Query("DROP FUNCTION qg_lock_jobs");
  Insert(3);
  std::atomic<int> runs{0};
  WorkMap work_map;
  work_map.Register("Job", [&](Job&) {
    ++runs;
    return absl::OkStatus();
  });
  WorkerPool pool(client_.get(), &work_map, 2, Fast());
  QG_ASSERT_OK(pool.Start());
  EXPECT_EQ(pool.mode(), WorkerMode::kQgCompat);
  EXPECT_TRUE(WaitFor([&] { return runs == 3; }));
  pool.Shutdown();
}

}  // namespace
}  // namespace qg
