// Runs the README's quick start against a throwaway database.
#include "gtest/gtest.h"
#include "qg/testing/job.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"
#include "readme_snippets.inc"  // NOLINT: the README's C++ blocks

namespace {

std::string One(PGconn* conn, const char* sql) {
  PGresult* r = PQexec(conn, sql);
  std::string v = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "<no row>";
  PQclear(r);
  return v;
}

TEST(ReadmeTest, QuickStartEnqueuesInTransactionAndWorkersRunIt) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(auto client, readme::Connect(db->conninfo()));
  PGconn* conn = PQconnectdb(db->conninfo().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK);
  PQclear(PQexec(conn,
                 "CREATE TABLE users (id bigint PRIMARY KEY); "
                 "CREATE TABLE sent (address text)"));
  QG_ASSERT_OK(readme::CreateUser(*client, conn, 1));
  EXPECT_EQ(One(conn, "SELECT queue || ' ' || job_class FROM que_jobs"),
            "mail qg.examples.email.WelcomeEmail");
  // The same user again: the insert fails and the job goes with it.
  EXPECT_FALSE(readme::CreateUser(*client, conn, 1).ok());
  EXPECT_EQ(One(conn, "SELECT count(*) FROM que_jobs"), "1");
  readme::RunWorkers(*client, absl::Milliseconds(500));
  EXPECT_EQ(One(conn, "SELECT address FROM sent"), "ada@example.com");
  EXPECT_EQ(One(conn, "SELECT count(*) FROM que_jobs"), "0");
  PQfinish(conn);
}

TEST(ReadmeTest, UniqueAndPeriodicSnippets) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(auto client, readme::Connect(db->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(bool stored, readme::EnqueueWelcomeOnce(*client, 7));
  EXPECT_TRUE(stored);
  QG_ASSERT_OK_AND_ASSIGN(stored, readme::EnqueueWelcomeOnce(*client, 7));
  EXPECT_FALSE(stored);
  QG_ASSERT_OK_AND_ASSIGN(stored, readme::EnqueueWelcomeOnce(*client, 8));
  EXPECT_TRUE(stored);
  qg::PeriodicEnqueuer periodic(client.get());
  QG_ASSERT_OK(readme::RegisterSchedules(periodic));
  EXPECT_EQ(periodic.names(),
            (std::vector<std::string>{"nightly-report", "refresh-cache"}));
  QG_ASSERT_OK(periodic.RunOnce().status);
  QG_ASSERT_OK_AND_ASSIGN(auto listed, qg::ListPeriodic(*client));
  EXPECT_EQ(listed.size(), 2);
}

TEST(ReadmeTest, HistorySnippets) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(auto client, readme::Connect(db->conninfo()));
  std::unique_ptr<qg::Job> job =
      qg_testing::NewTestJob({.type = "RenderInvoice"}, 77);
  QG_ASSERT_OK(readme::RenderInvoice(*job));
  EXPECT_EQ(job->output(),
            std::optional<std::string>("{\"pdf\": \"invoices/77.pdf\"}"));
  QG_ASSERT_OK_AND_ASSIGN(std::string status,
                          readme::InvoiceStatus(*client, 424242));
  EXPECT_EQ(status, "unknown");
}

TEST(ReadmeTest, BatchSnippets) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(auto client, readme::Connect(db->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch,
                          readme::StartImport(*client, {"a.csv", "b.csv"}));
  PGconn* conn = PQconnectdb(db->conninfo().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK);
  EXPECT_EQ(One(conn,
                "SELECT count(*) FROM que_jobs WHERE qg_batch_id IS "
                "NOT NULL"),
            "2");
  // The two imports complete (Que's way): ImportDone is enqueued once.
  PQclear(PQexec(conn, "DELETE FROM que_jobs WHERE job_class = 'ImportFile'"));
  EXPECT_EQ(One(conn,
                "SELECT args::text FROM que_jobs WHERE job_class = "
                "'ImportDone'"),
            "[" + std::to_string(batch) + "]");
  PQfinish(conn);
}

TEST(ReadmeTest, WorkflowSnippets) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(auto client, readme::Connect(db->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids,
                          readme::EnqueueUpload(*client, 5));
  ASSERT_EQ(ids.size(), 4u);
  PGconn* conn = PQconnectdb(db->conninfo().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK);
  // Fetch is runnable; the other three wait for their parents.
  EXPECT_EQ(One(conn,
                "SELECT string_agg(job_class || ' ' || (run_at = "
                "'9000-01-01')::text || ' ' || coalesce(qg_parents_left, 0), "
                "', ' ORDER BY job_id) FROM que_jobs"),
            "Fetch false 0, Resize true 1, Scan true 1, Publish true 2");
  // Fetch completes (Que's way: deleted): Resize and Scan are released.
  PQclear(PQexec(conn, "DELETE FROM que_jobs WHERE job_class = 'Fetch'"));
  EXPECT_EQ(One(conn, "SELECT count(*) FROM que_jobs WHERE run_at <= now()"),
            "2");
  std::unique_ptr<qg::Job> publish =
      qg_testing::NewTestJob({.type = "Publish"}, ids[3]);
  QG_ASSERT_OK_AND_ASSIGN(std::vector<std::string> outputs,
                          readme::ParentOutputs(*client, *publish));
  EXPECT_EQ(outputs, (std::vector<std::string>{"null", "null"}));
  PQfinish(conn);
}

}  // namespace
