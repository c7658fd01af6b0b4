#include "qg/testing/database_test.h"

#include <iostream>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"

namespace qg_testing {

void DatabaseTest::SetUp() {
  QG_ASSERT_OK_AND_ASSIGN(db_, TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(conn_, qg::Connect(db_->conninfo()));
  if (client_options_.has_value()) {
    QG_ASSERT_OK_AND_ASSIGN(client_, NewClient(*client_options_));
  }
}

void DatabaseTest::TearDown() {
  if (!HasFailure()) return;
  std::vector<std::string> lines = logger_.messages();
  // QG_TEST_ALL_LINES=1 (bazel test --test_env=...) prints them all.
  if (lines.size() > 12 && getenv("QG_TEST_ALL_LINES") == nullptr) {
    lines.resize(12);
  }
  std::cerr << logger_.count() << " lines logged; the first:\n"
            << absl::StrJoin(lines, "\n") << "\n";
}

absl::StatusOr<std::unique_ptr<qg::Client>> DatabaseTest::NewClient(
    qg::ClientOptions options) {
  if (options.conninfo.empty()) options.conninfo = db_->conninfo();
  if (options.logger == nullptr) options.logger = &logger_;
  return qg::Client::Create(options);
}

std::string DatabaseTest::Query(const std::string& sql,
                                const qg::SqlParams& params) {
  return QueryValue(conn_.get(), sql, params);
}

int64_t DatabaseTest::QueryInt(const std::string& sql,
                               const qg::SqlParams& params) {
  int64_t n = -1;
  std::string v = Query(sql, params);
  EXPECT_TRUE(absl::SimpleAtoi(v, &n)) << sql << " gave " << v;
  return n;
}

int64_t DatabaseTest::CountJobs(const std::string& where) {
  return QueryInt(absl::StrCat("SELECT count(*) FROM que_jobs WHERE ", where));
}

qg::PgConnPtr DatabaseTest::HoldJobLock(int64_t id,
                                        const std::string& conninfo) {
  absl::StatusOr<qg::PgConnPtr> c =
      qg::Connect(conninfo.empty() ? db_->conninfo() : conninfo);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return nullptr;
  EXPECT_EQ(QueryValue(c->get(),
                       absl::StrCat("SELECT pg_try_advisory_lock(", id, ")")),
            "t");
  return std::move(*c);
}

std::string DatabaseTest::EmptyDatabase(const std::string& name) {
  qg::EmbeddedPostgres& server = db_->server();
  absl::StatusOr<qg::PgConnPtr> c = qg::Connect(server.ConninfoFor("postgres"));
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return "";
  QG_EXPECT_OK(
      qg::ExecSimple(c->get(), absl::StrCat("DROP DATABASE IF EXISTS ", name))
          .status());
  QG_EXPECT_OK(qg::ExecSimple(c->get(), absl::StrCat("CREATE DATABASE ", name,
                                                     " TEMPLATE template0"))
                   .status());
  return server.ConninfoFor(name);
}

}  // namespace qg_testing
