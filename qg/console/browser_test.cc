// The console end to end in a real headless browser (Debian's chromium,
// driven by the npm package playwright-core that tools/setup.sh installs
// into .tools/playwright): prepares a database, starts the console, runs
// browser_test.js, and checks the database after the browser clicked retry
// and changed limits.
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "qg/batch.h"
#include "qg/console/console.h"
#include "qg/executor.h"
#include "qg/limits.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/subprocess.h"
#include "qg/testing/test_database.h"
#include "qg/workflow.h"

namespace qg {
namespace {

// This file's directory in the source tree, through the runfiles link.
std::string SourceDir() {
  std::string runfile = qg_testing::RunfilePath("qg/console/browser_test.js");
  char real[PATH_MAX];
  if (realpath(runfile.c_str(), real) == nullptr) return "";
  std::string dir = real;
  return dir.substr(0, dir.rfind('/'));
}

// playwright-core's install: $QG_PLAYWRIGHT_DIR, else the workspace's
// .tools/playwright (tools/setup.sh).
std::string PlaywrightDir(const std::string& source_dir) {
  if (const char* env = getenv("QG_PLAYWRIGHT_DIR"); env && *env) return env;
  return source_dir + "/../../.tools/playwright";
}

int RunNode(const std::vector<std::string>& args, const std::string& pw) {
  std::vector<std::string> argv = {"node"};
  argv.insert(argv.end(), args.begin(), args.end());
  return qg_testing::Wait(
      qg_testing::Spawn({.argv = argv, .env = {{"QG_PLAYWRIGHT_DIR", pw}}}));
}

class ConsoleBrowserTest : public qg_testing::DatabaseTest {
 protected:
  ConsoleBrowserTest() : DatabaseTest(qg::ClientOptions{}) {}
};

TEST_F(ConsoleBrowserTest,
       ShowsCountsRetriesAnErroredJobAndRendersMarkupAsText) {
  std::string source_dir = SourceDir();
  ASSERT_FALSE(source_dir.empty()) << "cannot find browser_test.js";
  std::string pw = PlaywrightDir(source_dir);
  ASSERT_EQ(
      access((pw + "/node_modules/playwright-core/package.json").c_str(), R_OK),
      0)
      << "playwright-core is missing from " << pw << ": run tools/setup.sh";
  ASSERT_EQ(access("/usr/bin/chromium", X_OK), 0)
      << "chromium is missing: run tools/setup.sh";

  auto insert = [&](const std::string& values) {
    return Query(absl::StrCat(
        "INSERT INTO que_jobs (queue, job_class, run_at, error_count, "
        "last_error, args) SELECT ",
        values, " RETURNING job_id"));
  };
  // mail/Mailer: 13 ready (one errored before), 3 scheduled (one of them
  // errored: the job the browser retries), 1 dead; reports/NightlyReport: 2
  // ready, 1 working, 4 scheduled; the default queue: 5 ready webhooks and one
  // job with markup.
  insert(
      "'mail', 'Mailer', now() - g * interval '3 seconds', 0, NULL, "
      "'[]'::json FROM generate_series(1, 12) g");
  insert(
      "'mail', 'Mailer', now() + g * interval '10 minutes', 0, NULL, "
      "'[]'::json FROM generate_series(1, 2) g");
  std::string errored = insert(
      "'mail', 'Mailer', now() + interval '20 minutes', 1, "
      "E'SMTP 451: mailbox busy, try later\\n  at Mailer.deliver "
      "(mailer.rb:42)\\n  at Worker.run (worker.rb:7)', "
      "'{\"to\":\"ada@example.com\",\"template\":\"welcome\",\"tries\":[1]}'"
      "::json");
  insert(
      "'mail', 'Mailer', now() - interval '1 minute', 2, 'SMTP 550', "
      "'[]'::json");
  insert(
      "'mail', 'Mailer', '9999-01-01 00:00:00+00', 25, 'qg: dead after 25 "
      "attempts: SMTP 550 no such user', '[]'::json");
  insert(
      "'reports', 'NightlyReport', now() - g * interval '1 minute', 0, "
      "NULL, '[]'::json FROM generate_series(1, 2) g");
  insert(
      "'reports', 'NightlyReport', now() + g * interval '1 hour', 0, "
      "NULL, '[]'::json FROM generate_series(1, 4) g");
  std::string working = insert(
      "'reports', 'NightlyReport', now() - interval '5 minutes', 0, "
      "NULL, '[]'::json");
  insert(
      "'', 'Webhook', now() - g * interval '20 seconds', 0, NULL, "
      "'[]'::json FROM generate_series(1, 5) g");
  std::string xss = insert(
      "'', 'Webhook', now() + interval '1 hour', 1, "
      "'<script>window.__xss = 1</script><img src=x "
      "onerror=\"window.__xss = 2\">', "
      "'{\"html\":\"<script>window.__xss = 3</script>\"}'::json");
  Query(
      "INSERT INTO qg_queues (queue, paused) VALUES ('reports', true) "
      "RETURNING 1");
  // Three hours of throughput history, for the chart.
  Query(
      "INSERT INTO qg_job_counts (minute, queue, job_class, completed, "
      "retried, "
      "dead) SELECT date_trunc('minute', now()) - m * interval '1 minute', "
      "'mail', 'Mailer', (60 + 35 * sin(m / 14.0) + (m * 7919 % 13))::int, "
      "CASE WHEN m % 17 = 0 THEN 6 + m % 5 ELSE m % 3 END, "
      "CASE WHEN m % 41 = 0 THEN 2 ELSE 0 END FROM generate_series(0, 179) m "
      "RETURNING 1");
  // Limits: reports' (its held job runs, 2 wait), mail's rate, and one
  // whose name holds markup.
  PgExecutor exec(conn_.get());
  QG_ASSERT_OK(SetLimit(exec, {.name = "reports",
                               .queue = "reports",
                               .type = "NightlyReport",
                               .concurrency = 1}));
  QG_ASSERT_OK(SetLimit(exec, {.name = "mail-send",
                               .queue = "mail",
                               .rate = 50,
                               .rate_period = absl::Minutes(1),
                               .rate_burst = 5}));
  QG_ASSERT_OK(
      SetLimit(exec, {.name = "<img src=x onerror=\"window.__xss = 4\">",
                      .type = "Nothing",
                      .concurrency = 5}));
  // Job history: a completed job with output (markup in it), a dead one
  // (the browser brings it back) and a cancelled one, in queue "billing".
  Query(
      "INSERT INTO qg_job_history (job_id, queue, priority, job_class, args, "
      "outcome, attempts, enqueued_at, first_started_at, started_at, "
      "finished_at, run_time, last_error, output) VALUES "
      "(900001, 'billing', 100, 'Invoice', '[1]', 'completed', 2, "
      "now() - interval '10 minutes', now() - interval '9 minutes', "
      "now() - interval '5 minutes', now() - interval '4 minutes', "
      "interval '1.5 seconds', 'timeout', "
      "'{\"pdf\":\"inv-1.pdf\",\"note\":\"<img src=x "
      "onerror=window.__xss=5>\"}'), "
      "(900002, 'billing', 100, 'Invoice', '[2]', 'dead', 3, now(), now(), "
      "now(), now() - interval '3 minutes', interval '20 ms', "
      "'qg: dead after 3 attempts: card declined', NULL), "
      "(900003, 'billing', 100, 'Refund', '[3]', 'cancelled', 0, now(), "
      "NULL, NULL, now() - interval '2 minutes', NULL, 'qg: cancelled: by "
      "an operator', NULL) RETURNING 1");
  // A workflow in queue "flow" (a diamond: B and C after A, D after both):
  // A completed (its record), C died, so D was cancelled; B is ready. D's
  // type holds markup.
  qg::Workflow flow;
  size_t a = flow.Add({.type = "Fetch", .queue = "flow"});
  size_t b = flow.Add({.type = "Resize", .queue = "flow"}, {a});
  size_t c = flow.Add({.type = "Scan", .queue = "flow"}, {a});
  flow.Add(
      {.type = "<img src=x onerror=\"window.__xss = 6\">", .queue = "flow"},
      {b, c});
  QG_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> flow_ids,
                          client_->EnqueueWorkflow(flow));
  Query(absl::StrCat(
      "WITH gone AS (DELETE FROM que_jobs WHERE job_id = ", flow_ids[0],
      " RETURNING *) INSERT INTO qg_job_history (job_id, queue, priority, "
      "job_class, args, outcome, attempts, finished_at) SELECT job_id, "
      "queue, priority, job_class, args, 'completed', 1, now() FROM gone "
      "RETURNING 1"));
  Query(
      absl::StrCat("UPDATE que_jobs SET run_at = '9999-01-01', last_error "
                   "= 'qg: dead after 1 attempt: scanner down' WHERE "
                   "job_id = ",
                   flow_ids[2], " RETURNING 1"));
  // A sealed batch of 3 jobs in queue "imports", one completed; its
  // description holds markup.
  qg::BatchOptions batch_options;
  batch_options.description = "<img src=x onerror=\"window.__xss = 7\">";
  batch_options.on_success = qg::NewJob{.type = "ImportDone", .queue = "cb"};
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client_->CreateBatch(batch_options));
  qg::NewJob import{.type = "Import", .queue = "imports"};
  import.batch_id = batch;
  QG_ASSERT_OK(client_->EnqueueMany({import, import, import}).status());
  QG_ASSERT_OK(client_->SealBatch(batch));
  Query(
      absl::StrCat("DELETE FROM que_jobs WHERE job_id = (SELECT min(job_id) "
                   "FROM que_jobs WHERE qg_batch_id = ",
                   batch, ") RETURNING 1"));
  PgConnPtr holder = HoldJobLock(std::stoll(working));
  ASSERT_FALSE(HasFailure()) << "cannot hold job " << working << "'s lock";

  QG_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Console> console,
      Console::Start({.conninfo = db_->conninfo() + " password=hunter2",
                      .listen = "127.0.0.1:0",
                      .refresh = absl::Milliseconds(500)}));
  ASSERT_EQ(Query(absl::StrCat("SELECT run_at > now() FROM que_jobs WHERE "
                               "job_id = ",
                               errored)),
            "t");
  int code = RunNode({source_dir + "/browser_test.js", console->url(), errored,
                      xss, absl::StrCat(flow_ids[3]), absl::StrCat(flow_ids[0]),
                      absl::StrCat(batch)},
                     pw);
  ASSERT_EQ(code, 0) << "browser_test.js failed (its output is above)";

  // The dead record's Retry brought job 900002 back, and its record went.
  EXPECT_EQ(Query("SELECT queue || ' ' || error_count FROM que_jobs WHERE "
                  "job_id = 900002"),
            "billing 0");
  EXPECT_EQ(Query("SELECT count(*) FROM qg_job_history WHERE queue = "
                  "'billing'"),
            "2");

  // The click reached the database: the errored job is due now.
  EXPECT_EQ(
      Query(absl::StrCat("SELECT run_at <= now() AND error_count = 1 FROM "
                         "que_jobs WHERE job_id = ",
                         errored)),
      "t");
  EXPECT_EQ(Query(absl::StrCat("SELECT run_at > now() FROM que_jobs WHERE "
                               "job_id = ",
                               xss)),
            "t");  // looking changed nothing
  // The limit changes the browser made.
  EXPECT_EQ(Query("SELECT concat_ws(' ', queue, job_class, concurrency, "
                  "coalesce(rate, -1)) FROM qg_limits WHERE name = 'reports'"),
            "reports NightlyReport 3 -1");
  EXPECT_EQ(Query("SELECT queue = '' AND job_class = 'Webhook' AND "
                  "concurrency IS NULL AND rate = 10 AND rate_period = "
                  "interval '1 minute' AND rate_burst = 1 FROM qg_limits "
                  "WHERE name = 'webhooks'"),
            "t");
  EXPECT_EQ(Query("SELECT count(*) FROM qg_limits WHERE name IN ('mail-send', "
                  "'bad')"),
            "0");
}

}  // namespace
}  // namespace qg
