// TLS: a server with a test CA's certificate, and clients that verify it
// (sslmode=verify-full): enqueueing, worker pools, admin and the console's
// database connection work over it; a certificate of another CA is refused
// clearly; and no secret of the conninfo (password, sslpassword) nor the
// key's content appears in an error, a log line or a console page.
#include <unistd.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "qg/admin.h"
#include "qg/client.h"
#include "qg/console/console.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/pg.h"
#include "qg/testing/capturing_logger.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/subprocess.h"
#include "qg/testing/worker_modes.h"
#include "qg/worker/worker.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "pw-s3cret-9f2";
constexpr char kKeyPassword[] = "keypw-s3cret-71c";

// Runs a shell command line; whether it exited 0.
bool Sh(const std::string& command) {
  return qg_testing::Wait(
             qg_testing::Spawn({.argv = {"/bin/sh", "-c", command}})) == 0;
}

// A CA, a server certificate it signed for localhost, and a second CA.
struct Pki {
  std::string dir;
  std::string ca() const { return dir + "/ca.crt"; }
  std::string other_ca() const { return dir + "/other.crt"; }
  std::string cert_pem, key_pem;
};

Pki MakePki() {
  Pki p;
  p.dir = qg_testing::TempPath("pki");
  const std::string ec =
      "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  std::string script = absl::StrCat(
      "set -e; mkdir -p ", p.dir, "; cd ", p.dir, ";", "openssl req -x509 ", ec,
      " -keyout ca.key -out ca.crt -days 2 -subj '/CN=qg test CA' 2>/dev/null;",
      "openssl req -x509 ", ec,
      " -keyout other.key -out other.crt -days 2 -subj '/CN=other CA' "
      "2>/dev/null;",
      "openssl req ", ec,
      " -keyout server.key -out server.csr -subj '/CN=localhost' 2>/dev/null;",
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext;",
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
      "-CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null");
  CHECK(Sh(script)) << "openssl failed (install it: tools/setup.sh)";
  p.cert_pem = qg_testing::ReadFile(p.dir + "/server.crt");
  p.key_pem = qg_testing::ReadFile(p.dir + "/server.key");
  return p;
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new Pki(MakePki());
    auto s = qg::EmbeddedPostgres::Start(
        {.tls_cert_pem = pki_->cert_pem, .tls_key_pem = pki_->key_pem});
    CHECK(s.ok()) << s.status();
    server_ = s->release();
  }

  // verify-full against `ca`, with secrets the server (trust) never asks
  // for but a careless log would print.
  static std::string Conninfo(const std::string& ca) {
    return absl::StrCat(server_->TcpConninfoFor("qg"),
                        " sslmode=verify-full sslrootcert=", ca,
                        " password=", kPassword, " sslpassword=", kKeyPassword);
  }

  // The key's body, as a secret to look for: its second line.
  static std::string KeyLine() {
    size_t a = pki_->key_pem.find('\n');
    return pki_->key_pem.substr(a + 1, 40);
  }

  static void ExpectNoSecret(const std::string& text) {
    EXPECT_THAT(text, Not(HasSubstr(kPassword)));
    EXPECT_THAT(text, Not(HasSubstr(kKeyPassword)));
    EXPECT_THAT(text, Not(HasSubstr(KeyLine())));
  }

  static Pki* pki_;
  static qg::EmbeddedPostgres* server_;
};

Pki* TlsTest::pki_ = nullptr;
qg::EmbeddedPostgres* TlsTest::server_ = nullptr;

TEST_F(TlsTest, VerifyFullWorksEndToEnd) {
  const std::string conninfo = Conninfo(pki_->ca());
  QG_ASSERT_OK_AND_ASSIGN(qg::PgConnPtr conn, qg::Connect(conninfo));
  EXPECT_EQ(qg_testing::QueryValue(conn.get(),
                                   "SELECT ssl FROM pg_stat_ssl WHERE pid = "
                                   "pg_backend_pid()"),
            "t");
  qg_testing::CapturingLogger logger;
  QG_ASSERT_OK_AND_ASSIGN(auto client, qg::Client::Create({.conninfo = conninfo,
                                                           .logger = &logger}));
  for (qg::WorkerMode mode :
       {qg::WorkerMode::kFast, qg::WorkerMode::kQgCompat}) {
    std::vector<qg::NewJob> jobs(50, qg::NewJob{.type = "T"});
    QG_ASSERT_OK(client->EnqueueMany(jobs));
    std::atomic<int> runs{0};
    qg::WorkMap work_map;
    work_map.Register("T", [&](qg::Job& job) -> absl::Status {
      ++runs;
      // The handler's own connection is TLS too.
      absl::StatusOr<qg::PgResult> ssl = qg::ExecSimple(
          job.Conn(),
          "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
      if (!ssl.ok()) return ssl.status();
      if (ssl->Get(0, 0) != "t") return absl::InternalError("not TLS");
      return absl::OkStatus();
    });
    qg::WorkerPool pool(client.get(), &work_map, 2,
                        {.interval = absl::Milliseconds(20), .mode = mode});
    QG_ASSERT_OK(pool.Start());
    EXPECT_TRUE(qg_testing::WaitFor([&] {
      return qg_testing::QueryValue(conn.get(),
                                    "SELECT count(*) FROM que_jobs") == "0";
    })) << qg_testing::WorkerModeName(mode);
    pool.Shutdown();
    EXPECT_EQ(runs, 50);
  }
  // Every session of the database is TLS.
  EXPECT_EQ(qg_testing::QueryValue(
                conn.get(),
                "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s "
                "USING (pid) WHERE a.datname = 'qg' AND NOT s.ssl"),
            "0");
  QG_ASSERT_OK_AND_ASSIGN(auto admin,
                          qg::Admin::Connect({.conninfo = conninfo}));
  QG_ASSERT_OK(admin->Stats().status());
  QG_ASSERT_OK_AND_ASSIGN(
      auto console,
      qg::Console::Start({.conninfo = conninfo, .listen = "127.0.0.1:0"}));
  httplib::Client http("127.0.0.1", console->port());
  for (const char* path : {"/api/v1/config", "/api/v1/overview", "/"}) {
    httplib::Result r = http.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
    ExpectNoSecret(r->body);
  }
  ExpectNoSecret(logger.text());
}

TEST_F(TlsTest, AnotherCasCertificateIsRefusedClearly) {
  const std::string conninfo = Conninfo(pki_->other_ca());
  absl::StatusOr<qg::PgConnPtr> conn = qg::Connect(conninfo);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(conn.status().message(), HasSubstr("certificate verify failed"));
  ExpectNoSecret(std::string(conn.status().message()));
  EXPECT_THAT(conn.status().message(), HasSubstr("password='****'"));
  for (absl::Status s :
       {qg::Client::Create({.conninfo = conninfo}).status(),
        qg::Admin::Connect({.conninfo = conninfo}).status(),
        qg::Console::Start({.conninfo = conninfo, .listen = "127.0.0.1:0"})
            .status()}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_THAT(s.message(), HasSubstr("certificate verify failed"));
    ExpectNoSecret(std::string(s.message()));
  }
  // A client certificate's key path is named, its content never read out.
  std::string out = qg_testing::TempPath("qg-out");
  EXPECT_NE(qg_testing::Wait(qg_testing::Spawn(
                {.argv = {qg_testing::RunfilePath("tools/qg"), "stats",
                          "--db=" + conninfo + " sslkey=" + pki_->dir +
                              "/server.key"},
                 .stdout_path = out + ".out",
                 .stderr_path = out})),
            0);
  EXPECT_THAT(qg_testing::ReadFile(out),
              HasSubstr("certificate verify failed"));
  ExpectNoSecret(qg_testing::ReadFile(out));
  ExpectNoSecret(qg_testing::ReadFile(out + ".out"));
}

TEST_F(TlsTest, SecretsStayOutOfWorkerLogsWhenTheServerGoesAway) {
  const std::string conninfo = Conninfo(pki_->ca());
  qg_testing::CapturingLogger logger;
  QG_ASSERT_OK_AND_ASSIGN(auto client, qg::Client::Create({.conninfo = conninfo,
                                                           .logger = &logger}));
  qg::WorkMap work_map;
  work_map.Register("T", [](qg::Job&) { return absl::OkStatus(); });
  qg::WorkerPool pool(client.get(), &work_map, 2,
                      {.interval = absl::Milliseconds(20)});
  QG_ASSERT_OK(pool.Start());
  QG_ASSERT_OK(server_->Stop(/*immediate=*/true));
  // Reconnection attempts log the (redacted) conninfo.
  EXPECT_TRUE(qg_testing::WaitFor(
      [&] { return logger.text().find("cannot connect") != std::string::npos; },
      absl::Seconds(30)));
  QG_ASSERT_OK(server_->Restart());
  QG_ASSERT_OK(client->Enqueue({.type = "T"}).status());
  QG_ASSERT_OK_AND_ASSIGN(qg::PgConnPtr conn, qg::Connect(conninfo));
  EXPECT_TRUE(qg_testing::WaitFor([&] {
    return qg_testing::QueryValue(conn.get(),
                                  "SELECT count(*) FROM que_jobs") == "0";
  }));
  pool.Shutdown();
  EXPECT_THAT(logger.text(), HasSubstr("password='****'"));
  ExpectNoSecret(logger.text());
}

}  // namespace
