// A worker process killed with SIGKILL mid-job, in both modes: its locks go
// with its sessions at once, every job is completed at least once, none is
// lost, and only jobs in flight at the kill run twice.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "qg/batch.h"
#include "qg/client.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/subprocess.h"
#include "qg/testing/test_database.h"
#include "qg/worker/worker.h"

namespace qg {
namespace {

class CrashTest : public qg_testing::DatabaseTest,
                  public ::testing::WithParamInterface<std::string> {};

INSTANTIATE_TEST_SUITE_P(Modes, CrashTest,
                         ::testing::Values("fast", "qg-compat"),
                         [](const auto& info) {
                           return info.param == "fast" ? "Fast" : "QgCompat";
                         });

TEST_P(CrashTest, SigkilledWorkerLosesNothingAndRerunsOnlyJobsInFlight) {
  // What the soak worker's handler records: when each run started and
  // ended (tools/soak.cc).
  Query(
      "CREATE TABLE qg_soak_effects (id bigserial PRIMARY KEY, job_id bigint "
      "NOT NULL, worker int NOT NULL, started_at timestamptz NOT NULL, "
      "done_at timestamptz)");
  Query(
      "INSERT INTO que_jobs (job_class) SELECT 'Soak' FROM "
      "generate_series(1, 300) RETURNING 1");

  pid_t worker = qg_testing::Spawn(
      {.argv = {qg_testing::RunfilePath("tools/soak"), "--role=worker",
                "--db=" + db_->conninfo(), "--threads=4", "--handler_ms=40",
                "--mode=" + GetParam()}});
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (std::stoi(Query("SELECT count(*) FROM qg_soak_effects")) < 30 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  qg_testing::WaitStatus(worker);
  // The dead process's backends end a moment after it: a statement it had
  // sent (a handler's write, a batch of deletes) may still commit. Judge
  // what was in flight once they are gone.
  absl::Time gone = absl::Now() + absl::Seconds(10);
  while (Query("SELECT count(*) FROM pg_stat_activity WHERE datname = "
               "current_database() AND pid <> pg_backend_pid()") != "0" &&
         absl::Now() < gone) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  // In flight at the kill: a handler running (started, not ended), or
  // ended but its outcome not yet recorded (the row is still there).
  auto ids = [&](const std::string& sql) {
    std::set<std::string> out;
    for (absl::string_view id :
         absl::StrSplit(Query(sql), ',', absl::SkipEmpty())) {
      out.insert(std::string(id));
    }
    return out;
  };
  std::set<std::string> running =
      ids("SELECT coalesce(string_agg(DISTINCT f.job_id::text, ','), '') FROM "
          "qg_soak_effects f JOIN que_jobs j USING (job_id) WHERE f.done_at IS "
          "NULL");
  std::set<std::string> unrecorded =
      ids("SELECT coalesce(string_agg(DISTINCT f.job_id::text, ','), '') FROM "
          "qg_soak_effects f JOIN que_jobs j USING (job_id) WHERE f.done_at IS "
          "NOT NULL");
  std::set<std::string> in_flight = running;
  in_flight.insert(unrecorded.begin(), unrecorded.end());
  // The dead process's locks go with its sessions, at once.
  absl::Time locks_gone = absl::Now() + absl::Seconds(5);
  while (Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") !=
             "0" &&
         absl::Now() < locks_gone) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");

  // Another worker finishes the rest.
  QG_ASSERT_OK_AND_ASSIGN(auto client,
                          Client::Create({.conninfo = db_->conninfo()}));
  WorkMap work_map;
  work_map.Register("Soak", [&](Job& job) {
    return qg::Exec(job.Conn(),
                    "INSERT INTO qg_soak_effects (job_id, worker, "
                    "started_at, done_at) VALUES ($1, 0, now(), now())",
                    {absl::StrCat(job.id())})
        .status();
  });
  WorkerOptions options;
  options.interval = absl::Milliseconds(20);
  WorkerPool pool(client.get(), &work_map, 4, options);
  QG_ASSERT_OK(pool.Start());
  deadline = absl::Now() + absl::Seconds(60);
  while (Query("SELECT count(*) FROM que_jobs") != "0" &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  pool.Shutdown();
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
  EXPECT_EQ(Query("SELECT count(DISTINCT job_id) FROM qg_soak_effects"), "300");
  std::string twice = Query(
      "SELECT coalesce(string_agg(job_id::text, ','), '') FROM (SELECT job_id "
      "FROM qg_soak_effects GROUP BY job_id HAVING count(*) > 1) t");
  for (absl::string_view id : absl::StrSplit(twice, ',', absl::SkipEmpty())) {
    EXPECT_TRUE(in_flight.count(std::string(id)))
        << "job " << id << " ran twice but was not in flight at the kill";
  }
  // At most one running job per thread, and at most one per thread whose
  // outcome waited for the next round trip.
  EXPECT_LE(running.size(), 4u);
  EXPECT_LE(unrecorded.size(), 4u);
}

// Flow control under a crash: four worker processes share a global limit
// of 3; one is SIGKILLed while it holds slots. The limit is never exceeded
// (the handlers' recorded runs, the killed process's unfinished ones
// counted until the kill), its slots go with its sessions so the others
// finish every job without waiting for any lease, and only jobs that the
// killed process had in flight run twice.
TEST_P(CrashTest, SigkilledWorkerUnderALimitFreesItsSlots) {
  Query(
      "CREATE TABLE qg_soak_effects (id bigserial PRIMARY KEY, job_id bigint "
      "NOT NULL, worker int NOT NULL, started_at timestamptz NOT NULL, "
      "done_at timestamptz)");
  Query(
      "INSERT INTO qg_limits (name, job_class, concurrency, slots_high) "
      "VALUES ('soak', 'Soak', 3, 3) RETURNING 1");
  Query(
      "INSERT INTO que_jobs (job_class) SELECT 'Soak' FROM "
      "generate_series(1, 600) RETURNING 1");
  std::vector<pid_t> workers;
  for (int i = 0; i < 4; ++i) {
    workers.push_back(qg_testing::Spawn(
        {.argv = {qg_testing::RunfilePath("tools/soak"), "--role=worker",
                  "--db=" + db_->conninfo(), "--threads=8", "--handler_ms=20",
                  "--mode=" + GetParam()}}));
  }
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::string victim;
  while (absl::Now() < deadline) {
    if (std::stoi(Query("SELECT count(*) FROM qg_soak_effects")) >= 60) {
      // A process that holds a slot now: one of its handlers is running.
      victim = Query(
          "SELECT coalesce(min(worker)::text, '') FROM qg_soak_effects "
          "WHERE done_at IS NULL");
      if (!victim.empty()) break;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_FALSE(victim.empty()) << "no handler ran";
  pid_t victim_pid = std::stoi(victim);
  ASSERT_NE(std::find(workers.begin(), workers.end(), victim_pid),
            workers.end());
  ASSERT_EQ(kill(victim_pid, SIGKILL), 0);
  const absl::Time killed = absl::Now();
  qg_testing::WaitStatus(victim_pid);
  // The others finish every job: the dead process's slots are free once
  // its sessions end, with no lease to wait out.
  deadline = absl::Now() + absl::Seconds(120);
  while (Query("SELECT count(*) FROM que_jobs") != "0" &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  for (pid_t pid : workers) {
    if (pid == victim_pid) continue;
    kill(pid, SIGTERM);
    qg_testing::WaitStatus(pid);
  }
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
  EXPECT_EQ(Query("SELECT count(DISTINCT job_id) FROM qg_soak_effects"), "600");

  // The most runs at once, from the recorded intervals; a run the kill cut
  // short ends at the kill.
  std::string rows = Query(absl::StrCat(
      "SELECT string_agg(extract(epoch FROM started_at)::text || ' ' || "
      "extract(epoch FROM coalesce(done_at, to_timestamp(",
      absl::StrFormat("%.6f",
                      absl::ToDoubleSeconds(killed - absl::UnixEpoch())),
      ")))::text, ',') "
      "FROM qg_soak_effects"));
  std::vector<std::pair<double, int>> edges;
  std::vector<std::pair<double, double>> runs;
  for (absl::string_view run : absl::StrSplit(rows, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> se = absl::StrSplit(run, ' ');
    double start = 0, end = 0;
    ASSERT_TRUE(absl::SimpleAtod(se.first, &start) &&
                absl::SimpleAtod(se.second, &end))
        << run;
    edges.push_back({start, +1});
    edges.push_back({end, -1});
    runs.push_back({start, end});
  }
  std::sort(edges.begin(), edges.end());  // an end before a start at a tie
  int now = 0, most = 0;
  double when = 0;
  for (const auto& [t, d] : edges) {
    if ((now += d) > most) most = now, when = t;
  }
  EXPECT_LE(most, 3) << "the limit of 3 was exceeded at " << when << " (kill "
                     << absl::ToDoubleSeconds(killed - absl::UnixEpoch())
                     << "; victim " << victim_pid << "):\n"
                     << Query(absl::StrCat(
                            "SELECT string_agg(format('%s job %s by %s: %s - "
                            "%s', id, job_id, worker, extract(epoch FROM "
                            "started_at), extract(epoch FROM done_at)), "
                            "E'\\n' ORDER BY started_at) FROM qg_soak_effects "
                            "WHERE started_at <= to_timestamp(",
                            absl::StrFormat("%.6f", when),
                            ") AND coalesce(done_at, 'infinity') >= "
                            "to_timestamp(",
                            absl::StrFormat("%.6f", when), ")"));
  EXPECT_EQ(most, 3) << "the limit should be reached, not only respected";

  // Only the killed process's jobs in flight ran twice: at most one
  // running and one awaiting its outcome per thread.
  std::string twice = Query(
      "SELECT coalesce(string_agg(job_id::text, ','), '') FROM (SELECT job_id "
      "FROM qg_soak_effects GROUP BY job_id HAVING count(*) > 1) t");
  int doubled = 0;
  for (absl::string_view id : absl::StrSplit(twice, ',', absl::SkipEmpty())) {
    ++doubled;
    EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM qg_soak_effects WHERE "
                                 "job_id = ",
                                 id, " AND worker = ", victim_pid)),
              "1")
        << "job " << id << " ran twice but not in the killed process";
  }
  EXPECT_LE(doubled, 6) << "at most 3 slots' jobs, run and unrecorded";
}

// Workflows and batches under SIGKILLs: a 10,000-job batch (500 of its jobs
// children of 500 others) drained by 4 worker processes x 8 workers while
// one of them is SIGKILLed (and started again) every 1.5 seconds. The success
// callback is enqueued once, and runs after the last job of the batch ran;
// no child starts before its parent's last run ended.
TEST_P(CrashTest, BatchCallbackOnceAndChildrenAfterParentsUnderSigkills) {
  Query(
      "CREATE TABLE qg_soak_effects (id bigserial PRIMARY KEY, job_id bigint "
      "NOT NULL, worker int NOT NULL, started_at timestamptz NOT NULL, "
      "done_at timestamptz)");
  Query("CREATE TABLE chains (parent bigint, child bigint)");
  // When each killed process died: a handler's statement its backend was
  // running may still commit after the kill (the effect is written on a
  // connection of its own), which says nothing of when the job ran.
  Query("CREATE TABLE kills (worker int, at timestamptz)");
  QG_ASSERT_OK_AND_ASSIGN(auto client,
                          Client::Create({.conninfo = db_->conninfo()}));
  BatchOptions options;
  options.description = "crash";
  options.on_success = NewJob{.type = "Soak", .args = "[\"callback\"]"};
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client->CreateBatch(options));
  const std::string b = absl::StrCat(batch);
  Query(
      absl::StrCat("INSERT INTO que_jobs (job_class, qg_batch_id) SELECT "
                   "'Soak', ",
                   b, " FROM generate_series(1, 9000) RETURNING 1"));
  Query(absl::StrCat(
      "WITH p AS (INSERT INTO que_jobs (job_class, qg_batch_id) SELECT "
      "'Soak', ",
      b,
      " FROM generate_series(1, 500) RETURNING job_id) INSERT INTO chains "
      "SELECT job_id, qg_enqueue_child('', 100::smallint, NULL, 'Soak', "
      "'[]', NULL, ARRAY[job_id], true, ",
      b, ") FROM p RETURNING 1"));
  QG_ASSERT_OK(client->SealBatch(batch));
  ASSERT_EQ(
      Query(absl::StrCat("SELECT total FROM qg_batches WHERE batch_id = ", b)),
      "10000");

  auto spawn = [&] {
    return qg_testing::Spawn(
        {.argv = {qg_testing::RunfilePath("tools/soak"), "--role=worker",
                  "--db=" + db_->conninfo(), "--threads=8", "--handler_ms=40",
                  "--mode=" + GetParam()}});
  };
  std::vector<pid_t> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(spawn());
  const std::string callback_done = absl::StrCat(
      "SELECT count(*) FROM qg_soak_effects f JOIN qg_batches b ON "
      "f.job_id = b.success_job_id WHERE f.done_at IS NOT NULL AND "
      "b.batch_id = ",
      b);
  int kills = 0;
  absl::Time deadline = absl::Now() + absl::Seconds(240);
  absl::Time next_kill = absl::Now() + absl::Milliseconds(1500);
  while (Query(callback_done) == "0" && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
    if (absl::Now() >= next_kill) {
      pid_t& victim = workers[kills % workers.size()];
      ASSERT_EQ(kill(victim, SIGKILL), 0);
      Query(absl::StrCat("INSERT INTO kills VALUES (", victim,
                         ", clock_timestamp()) RETURNING 1"));
      qg_testing::WaitStatus(victim);
      victim = spawn();
      ++kills;
      next_kill = absl::Now() + absl::Milliseconds(1500);
    }
  }
  for (pid_t w : workers) {
    kill(w, SIGKILL);
    Query(absl::StrCat("INSERT INTO kills VALUES (", w,
                       ", clock_timestamp()) RETURNING 1"));
    qg_testing::WaitStatus(w);
  }
  ASSERT_NE(Query(callback_done), "0") << "the callback did not run in time";
  std::printf("batch under SIGKILLs: %d kills, %s job(s) ran more than once\n",
              kills,
              Query("SELECT count(*) FROM (SELECT job_id FROM qg_soak_effects "
                    "GROUP BY job_id HAVING count(*) > 1) t")
                  .c_str());
  EXPECT_GE(kills, 3) << "the batch finished before three kills";
  // Each job ran (at least once), and one callback job was ever enqueued.
  EXPECT_EQ(Query(absl::StrCat("SELECT concat_ws(' ', total, completed, dead, "
                               "cancelled, finished_at IS NOT NULL) FROM "
                               "qg_batches WHERE batch_id = ",
                               b)),
            "10000 10000 0 0 t");
  EXPECT_EQ(Query("SELECT count(DISTINCT job_id) FROM qg_soak_effects"),
            "10001");
  // When each run ended: done_at, or for a run of a killed process that
  // had not ended by the kill, its start (it ended with the process).
  Query(
      "CREATE VIEW runs AS SELECT f.job_id, f.started_at, CASE WHEN k.at IS "
      "NOT NULL AND coalesce(f.done_at, 'infinity') > k.at THEN f.started_at "
      "ELSE f.done_at END AS ended_at FROM qg_soak_effects f LEFT JOIN kills "
      "k ON k.worker = f.worker");
  // The callback's first run started after every run of the batch's jobs.
  const std::string late = Query(absl::StrCat(
      "SELECT coalesce(string_agg(r.job_id || ' ended ' || r.ended_at, '; '), "
      "'') FROM runs r, qg_batches b WHERE b.batch_id = ",
      b,
      " AND r.job_id <> b.success_job_id AND r.ended_at >= (SELECT "
      "min(started_at) FROM runs WHERE job_id = b.success_job_id)"));
  EXPECT_EQ(late, "") << "runs that ended after the callback started";
  // No child started before its parent's last run ended.
  EXPECT_EQ(Query("SELECT coalesce(string_agg(c.child::text, ','), '') FROM "
                  "chains c WHERE (SELECT min(started_at) FROM runs WHERE "
                  "job_id = c.child) <= (SELECT max(ended_at) FROM runs "
                  "WHERE job_id = c.parent)"),
            "");
  EXPECT_EQ(Query("SELECT count(*) FROM chains c WHERE NOT EXISTS (SELECT 1 "
                  "FROM qg_soak_effects WHERE job_id = c.child)"),
            "0");
}

}  // namespace
}  // namespace qg
