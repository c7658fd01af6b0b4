// Failover to a streaming standby: a primary and a synchronous hot standby
// on one machine; the primary stops at once (a crash), the standby is
// promoted and the old primary comes back as the new standby. Workers,
// enqueuers and admin given both hosts (target_session_attrs=read-write)
// carry on without a restart, and lose no acknowledged job. Pointed at a
// standby, the read paths work and say so, and changes are refused clearly.
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "qg/admin.h"
#include "qg/client.h"
#include "qg/console/console.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/internal/sync.h"
#include "qg/pg.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/subprocess.h"
#include "qg/testing/worker_modes.h"
#include "qg/worker/worker.h"

namespace {

using ::qg::EmbeddedPostgres;
using ::testing::HasSubstr;

// A primary and its synchronous standby.
class Cluster {
 public:
  static std::unique_ptr<Cluster> Start() {
    auto c = std::make_unique<Cluster>();
    qg::EmbeddedPostgresOptions options;
    options.settings = {{"synchronous_standby_names", "*"}};
    auto primary = EmbeddedPostgres::Start(options);
    EXPECT_TRUE(primary.ok()) << primary.status();
    if (!primary.ok()) return nullptr;
    auto standby = EmbeddedPostgres::StartStandby(**primary, options);
    EXPECT_TRUE(standby.ok()) << standby.status();
    if (!standby.ok()) return nullptr;
    c->primary_ = std::move(*primary);
    c->standby_ = std::move(*standby);
    c->conninfo_ = EmbeddedPostgres::FailoverConninfo(
        {c->primary_.get(), c->standby_.get()}, "qg");
    return c;
  }

  // Stops the primary at once, promotes the standby, and rebuilds the old
  // primary as the new one's standby.
  void Failover() {
    QG_ASSERT_OK(primary_->Stop(/*immediate=*/true));
    QG_ASSERT_OK(standby_->Promote());
    std::swap(primary_, standby_);
    QG_ASSERT_OK(standby_->RebuildAsStandbyOf(*primary_));
  }

  // Both hosts, the writable one chosen by libpq.
  const std::string& conninfo() const { return conninfo_; }
  EmbeddedPostgres& primary() { return *primary_; }
  EmbeddedPostgres& standby() { return *standby_; }

 private:
  std::unique_ptr<EmbeddedPostgres> primary_, standby_;
  std::string conninfo_;
};

int64_t CountJobs(const std::string& conninfo) {
  auto conn = qg::Connect(conninfo);
  if (!conn.ok()) return -1;
  auto r = qg::ExecSimple(conn->get(), "SELECT count(*) FROM que_jobs");
  return r.ok() ? std::stoll(std::string(r->Get(0, 0))) : -1;
}

class FailoverTest : public ::testing::TestWithParam<qg::WorkerMode> {};

TEST_P(FailoverTest, WorkersEnqueuersAndAdminCarryOnLosingNoAcknowledgedJob) {
  std::unique_ptr<Cluster> cluster = Cluster::Start();
  ASSERT_NE(cluster, nullptr);
  QG_ASSERT_OK_AND_ASSIGN(
      auto client, qg::Client::Create({.conninfo = cluster->conninfo(),
                                       .max_conns = 8,
                                       .acquire_timeout = absl::Seconds(10)}));
  qg::internal::Mutex mu;
  std::map<int64_t, int> runs;
  qg::WorkMap work_map;
  work_map.Register("J", [&](qg::Job& job) {
    absl::SleepFor(absl::Milliseconds(1));
    qg::internal::MutexLock lock(mu);
    ++runs[job.id()];
    return absl::OkStatus();
  });
  qg::WorkerPool pool(client.get(), &work_map, 4,
                      {.interval = absl::Milliseconds(50), .mode = GetParam()});
  QG_ASSERT_OK(pool.Start());
  QG_ASSERT_OK_AND_ASSIGN(
      auto admin, qg::Admin::Connect({.conninfo = cluster->conninfo()}));
  QG_ASSERT_OK(admin->Stats().status());
  QG_ASSERT_OK_AND_ASSIGN(
      auto console, qg::Console::Start({.conninfo = cluster->conninfo(),
                                        .listen = "127.0.0.1:0",
                                        .refresh = absl::ZeroDuration()}));
  httplib::Client http("127.0.0.1", console->port());
  auto overview_ok = [&] {
    httplib::Result r = http.Get("/api/v1/overview");
    return r && r->status == 200;
  };
  EXPECT_TRUE(overview_ok());

  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::vector<int64_t> acked;  // enqueuer thread's until joined
  std::thread enqueuer([&] {
    while (!stop) {
      absl::StatusOr<int64_t> id = client->Enqueue({.type = "J"});
      if (id.ok()) {
        acked.push_back(*id);
      } else {
        ++refused;  // in doubt: the server went away mid-statement
        absl::SleepFor(absl::Milliseconds(20));
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  absl::SleepFor(absl::Seconds(1));
  for (int i = 0; i < 2; ++i) {
    cluster->Failover();
    // Admin's idle connection died with the old primary: the next call
    // reconnects to the new one.
    QG_EXPECT_OK(admin->Stats().status()) << "after failover " << i + 1;
    // The console's reads reconnect too, and so does the command line.
    EXPECT_TRUE(qg_testing::WaitFor(overview_ok, absl::Seconds(10)))
        << "after failover " << i + 1;
    EXPECT_EQ(qg_testing::Wait(qg_testing::Spawn(
                  {.argv = {qg_testing::RunfilePath("tools/qg"), "stats",
                            "--db=" + cluster->conninfo()},
                   .stdout_path = qg_testing::TempPath("stats")})),
              0);
    absl::SleepFor(absl::Seconds(1));
  }
  stop = true;
  enqueuer.join();
  ASSERT_GT(acked.size(), 50u);

  // The same pool drains what was enqueued after the failovers.
  EXPECT_TRUE(qg_testing::WaitFor(
      [&] { return CountJobs(cluster->conninfo()) == 0; }, absl::Seconds(60)))
      << "left: " << CountJobs(cluster->conninfo());
  pool.Shutdown();
  int lost = 0, twice = 0;
  {
    qg::internal::MutexLock lock(mu);
    for (int64_t id : acked) {
      if (runs.count(id) == 0) ++lost;
    }
    for (const auto& [id, n] : runs) twice += n > 1;
  }
  EXPECT_EQ(lost, 0) << "of " << acked.size() << " acknowledged jobs";
  // A job in flight at a failover may run again (its completion died with
  // the primary); at most the pool's in-flight jobs per failover.
  EXPECT_LE(twice, 2 * 4 * 4);
  RecordProperty("acknowledged", static_cast<int>(acked.size()));
  RecordProperty("refused_in_doubt", refused.load());
  RecordProperty("ran_twice", twice);
}

INSTANTIATE_TEST_SUITE_P(Modes, FailoverTest, qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

TEST(StandbyTest, ReadsWorkThereAndChangesAreRefusedClearly) {
  std::unique_ptr<Cluster> cluster = Cluster::Start();
  ASSERT_NE(cluster, nullptr);
  {
    QG_ASSERT_OK_AND_ASSIGN(
        auto client, qg::Client::Create({.conninfo = cluster->conninfo()}));
    for (int i = 0; i < 3; ++i) QG_ASSERT_OK(client->Enqueue({.type = "S"}));
  }
  // Synchronous replication: committed means on the standby (applied soon
  // after).
  const std::string standby = cluster->standby().conninfo();
  ASSERT_TRUE(qg_testing::WaitFor([&] { return CountJobs(standby) == 3; }));

  QG_ASSERT_OK_AND_ASSIGN(auto admin,
                          qg::Admin::Connect({.conninfo = standby}));
  QG_ASSERT_OK_AND_ASSIGN(std::string why, admin->ReadOnlyReason());
  EXPECT_THAT(why, HasSubstr("hot standby"));
  QG_ASSERT_OK_AND_ASSIGN(auto stats, admin->Stats());
  QG_ASSERT_OK_AND_ASSIGN(auto page, admin->ListJobs({}, {}));
  ASSERT_EQ(page.jobs.size(), 3u);
  int64_t id = page.jobs[0].id;
  for (absl::Status s :
       {admin->RetryJob(id), admin->DeleteJob(id), admin->PauseQueue("q")}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(s.message(), HasSubstr("read-only"));
    EXPECT_THAT(s.message(), HasSubstr("target_session_attrs=read-write"));
  }
  QG_ASSERT_OK_AND_ASSIGN(std::string primary_why,
                          qg::Admin::Connect({.conninfo = cluster->conninfo()})
                              .value()
                              ->ReadOnlyReason());
  EXPECT_EQ(primary_why, "");

  // Enqueueing and worker pools on the standby are refused.
  QG_ASSERT_OK_AND_ASSIGN(auto client,
                          qg::Client::Create({.conninfo = standby}));
  absl::StatusOr<int64_t> enqueued = client->Enqueue({.type = "S"});
  EXPECT_EQ(enqueued.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(enqueued.status().message(), HasSubstr("read-only"));
  qg::WorkMap work_map;
  std::atomic<int> ran{0};
  work_map.Register("S", [&](qg::Job&) {
    ++ran;
    return absl::OkStatus();
  });
  for (qg::WorkerMode mode :
       {qg::WorkerMode::kFast, qg::WorkerMode::kQgCompat}) {
    qg::WorkerPool pool(client.get(), &work_map, 2, {.mode = mode});
    absl::Status s = pool.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(s.message(), HasSubstr("hot standby"));
    pool.Shutdown();
  }
  auto locked = client->LockJob("");
  EXPECT_EQ(locked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ran, 0);

  // The command line: reads say where they come from; changes fail.
  std::string out = qg_testing::TempPath("qg-out");
  std::string err = qg_testing::TempPath("qg-err");
  for (const char* command : {"stats", "jobs"}) {
    EXPECT_EQ(qg_testing::Wait(qg_testing::Spawn(
                  {.argv = {qg_testing::RunfilePath("tools/qg"), command,
                            "--db=" + standby},
                   .stdout_path = out,
                   .stderr_path = err})),
              0)
        << command;
    EXPECT_THAT(qg_testing::ReadFile(err),
                HasSubstr("read-only server (a hot standby)"))
        << command;
    EXPECT_THAT(qg_testing::ReadFile(out), HasSubstr("S")) << command;
  }
  EXPECT_NE(qg_testing::Wait(qg_testing::Spawn(
                {.argv = {qg_testing::RunfilePath("tools/qg"), "delete",
                          absl::StrCat(id), "--db=" + standby},
                 .stdout_path = out,
                 .stderr_path = err})),
            0);
  EXPECT_THAT(qg_testing::ReadFile(err), HasSubstr("read-only"));

  // The console: serves reads, offers no action and says why.
  QG_ASSERT_OK_AND_ASSIGN(
      auto console,
      qg::Console::Start({.conninfo = standby, .listen = "127.0.0.1:0"}));
  httplib::Client http("127.0.0.1", console->port());
  httplib::Result config = http.Get("/api/v1/config");
  ASSERT_TRUE(config);
  EXPECT_THAT(config->body, HasSubstr("\"read_only\":true"));
  EXPECT_THAT(config->body, HasSubstr("hot standby"));
  httplib::Result jobs = http.Get("/api/v1/jobs");
  ASSERT_TRUE(jobs);
  EXPECT_EQ(jobs->status, 200);
  httplib::Headers headers = {{"X-QG-CSRF", console->csrf_token()}};
  httplib::Result del =
      http.Post(absl::StrCat("/api/v1/jobs/", id, "/delete").c_str(), headers,
                "", "text/plain");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 409) << del->body;
  EXPECT_THAT(del->body, HasSubstr("read-only"));
  EXPECT_EQ(CountJobs(cluster->conninfo()), 3);
}

}  // namespace
