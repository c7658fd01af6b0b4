// A worker process killed with SIGKILL mid-job, in both modes: its locks go
// with its sessions at once, every job is completed at least once, none is
// lost, and only jobs in flight at the kill run twice.
#include <signal.h>
#include <unistd.h>

#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
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

}  // namespace
}  // namespace qg
