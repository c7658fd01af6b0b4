// Tests of the embedded PostgreSQL and the per-test databases on it: the schema
// is applied, servers and databases in parallel do not interfere, and teardown
// leaves nothing behind after a passing test, a failing test and a killed
// process.
#include "qg/embedded/embedded_postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/pg.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/subprocess.h"
#include "qg/testing/test_database.h"
#include "schema/schema.h"

namespace qg_testing {
namespace {

using ::qg::Connect;
using ::qg::Exec;
using ::testing::HasSubstr;

std::string QueryOne(const std::string& conninfo, const std::string& sql) {
  auto conn = Connect(conninfo);
  QG_EXPECT_OK(conn.status());
  if (!conn.ok()) return "<no connection>";
  auto r = Exec(conn->get(), sql);
  QG_EXPECT_OK(r.status());
  if (!r.ok() || r->rows() == 0) return "<no row>";
  return std::string(r->Get(0, 0));
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// True when `pid` is gone or a zombie.
bool Dead(pid_t pid) { return !Alive(pid); }

// Waits up to 30s for `pid` to die and `dir` to vanish.
void ExpectCleanedUp(pid_t pid, const std::string& dir) {
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((!Dead(pid) || Exists(dir)) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(Dead(pid)) << "postmaster " << pid << " still running";
  EXPECT_FALSE(Exists(dir)) << dir << " left behind";
}

TEST(EmbeddedPostgresTest, StartsWithSchemaAppliedAndNoTcp) {
  QG_ASSERT_OK_AND_ASSIGN(auto server, qg::EmbeddedPostgres::Start());
  EXPECT_EQ(
      QueryOne(server->conninfo(),
               "SELECT obj_description('que_jobs'::regclass, 'pg_class')"),
      "3");
  EXPECT_EQ(QueryOne(server->conninfo(), "SHOW listen_addresses"), "");
  EXPECT_EQ(QueryOne(server->conninfo(), "SHOW fsync"), "off");
  // Que 0.x's eight columns, plus qg-cpp's nullable additions (qg_*).
  EXPECT_EQ(QueryOne(server->conninfo(),
                     "SELECT count(*) FROM information_schema.columns "
                     "WHERE table_name = 'que_jobs' "
                     "AND column_name NOT LIKE 'qg\\_%'"),
            "8");
  EXPECT_EQ(server->socket_host().front(), '@');
}

TEST(EmbeddedPostgresTest, DurableServerKeepsPostgresDefaults) {
  qg::EmbeddedPostgresOptions options;
  options.durable = true;
  QG_ASSERT_OK_AND_ASSIGN(auto server, qg::EmbeddedPostgres::Start(options));
  EXPECT_EQ(QueryOne(server->conninfo(), "SHOW fsync"), "on");
  EXPECT_EQ(QueryOne(server->conninfo(), "SHOW synchronous_commit"), "on");
}

TEST(EmbeddedPostgresTest, ColdStartWithoutTemplateAppliesSchema) {
  qg::EmbeddedPostgresOptions options;
  options.use_template_cache = false;
  QG_ASSERT_OK_AND_ASSIGN(auto server, qg::EmbeddedPostgres::Start(options));
  EXPECT_EQ(QueryOne(server->conninfo(), "SELECT count(*) FROM que_jobs"), "0");
}

TEST(EmbeddedPostgresTest, ApplyingSchemaTwiceIsIdempotent) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(auto conn, Connect(db->conninfo()));
  QG_ASSERT_OK(qg::ExecSimple(conn.get(), qg::schema::kQueJobsSql));
  EXPECT_EQ(
      QueryOne(db->conninfo(),
               "SELECT count(*) FROM pg_class WHERE relname = 'que_jobs'"),
      "1");
}

TEST(EmbeddedPostgresTest, TwoServersInParallelDoNotInterfere) {
  std::unique_ptr<qg::EmbeddedPostgres> a, b;
  std::thread ta([&] {
    auto s = qg::EmbeddedPostgres::Start();
    QG_ASSERT_OK(s.status());
    a = std::move(*s);
  });
  std::thread tb([&] {
    auto s = qg::EmbeddedPostgres::Start();
    QG_ASSERT_OK(s.status());
    b = std::move(*s);
  });
  ta.join();
  tb.join();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->socket_host(), b->socket_host());
  EXPECT_NE(a->postmaster_pid(), b->postmaster_pid());
  QueryOne(a->conninfo(),
           "INSERT INTO que_jobs (job_class) VALUES ('A') RETURNING 1");
  EXPECT_EQ(QueryOne(a->conninfo(), "SELECT count(*) FROM que_jobs"), "1");
  EXPECT_EQ(QueryOne(b->conninfo(), "SELECT count(*) FROM que_jobs"), "0");
}

TEST(TestDatabaseTest, ManyDatabasesInParallelAreIsolated) {
  constexpr int kThreads = 8;
  std::vector<std::string> names(kThreads), counts(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto db = TestDatabase::Create();
      QG_ASSERT_OK(db.status());
      names[i] = (*db)->name();
      auto conn = Connect((*db)->conninfo());
      QG_ASSERT_OK(conn.status());
      for (int j = 0; j <= i; ++j) {
        QG_ASSERT_OK(Exec(conn->get(),
                          "INSERT INTO que_jobs (job_class) VALUES ($1)",
                          {absl::StrCat("T", i)})
                         .status());
      }
      auto r = Exec(conn->get(), "SELECT count(*) FROM que_jobs");
      QG_ASSERT_OK(r.status());
      counts[i] = std::string(r->Get(0, 0));
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(counts[i], absl::StrCat(i + 1)) << names[i];
    for (int j = 0; j < i; ++j) EXPECT_NE(names[i], names[j]);
  }
}

TEST(TestDatabaseTest, PassingTestDropsItsDatabase) {
  std::string name;
  {
    QG_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
    name = db->name();
    EXPECT_EQ(QueryOne(db->conninfo(), "SELECT current_database()"), name);
  }
  EXPECT_EQ(QueryOne(SharedServer().ConninfoFor("postgres"),
                     absl::StrCat("SELECT count(*) FROM pg_database WHERE "
                                  "datname = '",
                                  name, "'")),
            "0");
}

TEST(EmbeddedPostgresTest, StopImmediateAndRestartKeepCommittedData) {
  QG_ASSERT_OK_AND_ASSIGN(auto server, qg::EmbeddedPostgres::Start());
  QueryOne(server->conninfo(),
           "INSERT INTO que_jobs (job_class) VALUES ('Kept') RETURNING 1");
  pid_t old_pid = server->postmaster_pid();
  QG_ASSERT_OK(server->Stop(/*immediate=*/true));
  EXPECT_EQ(server->postmaster_pid(), 0);
  EXPECT_TRUE(Dead(old_pid));
  EXPECT_NE(PQping(server->conninfo().c_str()), PQPING_OK);
  QG_ASSERT_OK(server->Restart());
  EXPECT_EQ(QueryOne(server->conninfo(), "SELECT job_class FROM que_jobs"),
            "Kept");
}

TEST(EmbeddedPostgresTest, TeardownStopsServerAndRemovesDirectory) {
  pid_t pid;
  std::string base;
  {
    QG_ASSERT_OK_AND_ASSIGN(auto server, qg::EmbeddedPostgres::Start());
    pid = server->postmaster_pid();
    base = server->base_dir();
    ASSERT_TRUE(Exists(base + "/data/PG_VERSION"));
  }
  EXPECT_TRUE(Dead(pid));
  EXPECT_FALSE(Exists(base));
}

TEST(EmbeddedPostgresTest, StartSweepsDirectoriesOfSupervisorsThatDied) {
  if (access("/dev/shm", W_OK) != 0) GTEST_SKIP() << "no /dev/shm";
  // What a sandbox that SIGKILLs a whole process tree leaves: a directory
  // whose lock nobody holds. A fresh one (being set up) is left alone.
  std::string stale = "/dev/shm/qgpg-staleXXXXXX";
  std::string fresh = "/dev/shm/qgpg-freshXXXXXX";
  ASSERT_NE(mkdtemp(stale.data()), nullptr);
  ASSERT_NE(mkdtemp(fresh.data()), nullptr);
  for (const std::string& dir : {stale, fresh}) {
    std::ofstream(dir + "/lock") << "";
  }
  struct timeval old[2] = {{time(nullptr) - 3600, 0},
                           {time(nullptr) - 3600, 0}};
  ASSERT_EQ(utimes((stale + "/lock").c_str(), old), 0);
  QG_ASSERT_OK_AND_ASSIGN(auto server, qg::EmbeddedPostgres::Start());
  EXPECT_FALSE(Exists(stale));
  EXPECT_TRUE(Exists(fresh));
  std::remove((fresh + "/lock").c_str());
  rmdir(fresh.c_str());
}

TEST(EmbeddedPostgresTest, RunsServerUnprivileged) {
  QG_ASSERT_OK_AND_ASSIGN(auto server, qg::EmbeddedPostgres::Start());
  std::ifstream in(absl::StrCat("/proc/", server->postmaster_pid(), "/status"));
  std::string line;
  uid_t uid = 0;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) == 0) {
      std::vector<std::string> f = absl::StrSplit(line, '\t');
      ASSERT_TRUE(absl::SimpleAtoi(f[1], &uid));
    }
  }
  if (geteuid() == 0) {
    // Run by hand as root: the harness dropped to an unprivileged account.
    EXPECT_NE(uid, 0u);
  } else {
    EXPECT_EQ(uid, geteuid());
  }
}

// ---------------------------------------------------------------------------
// Teardown of a child process: passing, failing, killed.

struct Child {
  pid_t pid = 0;
  std::map<std::string, std::string> info;  // base=, postmaster=
  pid_t postmaster = 0;                     // info["postmaster"]
  std::string stderr_path;
  int stdout_fd = -1;  // drained by WaitChild, so the child never gets SIGPIPE
};

// Starts harness_child running `test` into `child` and reads its "key=value"
// lines until "ready"; fails unless they name its server.
void StartChild(const std::string& test, Child& child) {
  child.stderr_path = TempPath(absl::StrCat("child-", test, ".stderr"));
  child.pid =
      Spawn({.argv = {RunfilePath("qg/embedded/harness_child"),
                      absl::StrCat("--gtest_filter=ChildTest.DISABLED_", test),
                      "--gtest_also_run_disabled_tests"},
             .stderr_path = child.stderr_path,
             .stdout_pipe = &child.stdout_fd});
  std::string buf;
  char c;
  while (read(child.stdout_fd, &c, 1) == 1) {
    if (c != '\n') {
      buf.push_back(c);
      continue;
    }
    if (buf == "ready") break;
    std::pair<std::string, std::string> kv = absl::StrSplit(buf, '=');
    child.info[kv.first] = kv.second;
    buf.clear();
  }
  ASSERT_TRUE(child.info.count("base")) << ReadFile(child.stderr_path);
  ASSERT_TRUE(absl::SimpleAtoi(child.info["postmaster"], &child.postmaster));
}

// Drains the child's stdout (so it never gets SIGPIPE) and waits for it;
// its wait status.
int WaitChild(const Child& child) {
  char buf[4096];
  while (read(child.stdout_fd, buf, sizeof(buf)) > 0) {
  }
  close(child.stdout_fd);
  return WaitStatus(child.pid);
}

TEST(TeardownTest, PassingTestLeavesNothingBehind) {
  Child child;
  ASSERT_NO_FATAL_FAILURE(StartChild("Passes", child));
  int status = WaitChild(child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << ReadFile(child.stderr_path);
  ExpectCleanedUp(child.postmaster, child.info["base"]);
}

TEST(TeardownTest, FailingTestKeepsDatabaseWhileRunningThenLeavesNothing) {
  Child child;
  ASSERT_NO_FATAL_FAILURE(StartChild("Fails", child));
  int status = WaitChild(child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  std::string err = ReadFile(child.stderr_path);
  EXPECT_THAT(err, HasSubstr("keeping its database"));
  EXPECT_THAT(err, HasSubstr(child.info["conninfo"]));
  ExpectCleanedUp(child.postmaster, child.info["base"]);
}

TEST(TeardownTest, KilledProcessLeavesNothingBehind) {
  Child child;
  ASSERT_NO_FATAL_FAILURE(StartChild("Hangs", child));
  EXPECT_FALSE(Dead(child.postmaster));
  ASSERT_EQ(kill(child.pid, SIGKILL), 0);
  WaitChild(child);
  ExpectCleanedUp(child.postmaster, child.info["base"]);
}

}  // namespace
}  // namespace qg_testing
