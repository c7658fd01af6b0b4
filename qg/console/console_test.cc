// Tests of the web console's HTTP handlers, over real HTTP (httplib's
// client) against a throwaway database each.
#include "qg/console/console.h"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "qg/admin.h"
#include "qg/admin_json.h"
#include "qg/client.h"
#include "qg/executor.h"
#include "qg/limits.h"
#include "qg/metrics/http_test_clients.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"
#include "qg/testing/worker_modes.h"
#include "qg/worker/worker.h"
#include "rapidjson/document.h"

namespace qg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDead[] = "'9999-01-01 00:00:00+00'";

class ConsoleTest : public qg_testing::DatabaseTest {
 protected:
  // Starts a console on a free port with `options` (conninfo and listen
  // filled in).
  void StartConsole(ConsoleOptions options = {}) {
    if (options.conninfo.empty()) options.conninfo = db_->conninfo();
    options.listen = "127.0.0.1:0";
    console_.reset();
    absl::StatusOr<std::unique_ptr<Console>> c = Console::Start(options);
    ASSERT_TRUE(c.ok()) << c.status();
    console_ = std::move(*c);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", console_->port());
  }

  // Inserts a job; returns its id.
  int64_t Insert(const std::string& type, const std::string& queue = "",
                 const std::string& run_at = "now() - interval '1 minute'",
                 int error_count = 0, const std::string& last_error = "",
                 const std::string& args = "[]") {
    std::string id = qg_testing::QueryValue(
        conn_.get(),
        absl::StrCat("INSERT INTO que_jobs (queue, run_at, job_class, args, "
                     "error_count, last_error) VALUES ($1, ",
                     run_at,
                     ", $2, $3::json, $4::int, nullif($5, '')) RETURNING "
                     "job_id"),
        {queue, type, args, absl::StrCat(error_count), last_error});
    return std::stoll(id);
  }

  httplib::Result Get(const std::string& path, httplib::Headers headers = {}) {
    return http_->Get(path.c_str(), headers);
  }

  // A POST as the page sends it: no body, the CSRF header unless told.
  httplib::Result Post(const std::string& path,
                       std::optional<std::string> csrf = std::nullopt,
                       httplib::Headers headers = {}) {
    headers.emplace("X-QG-CSRF", csrf.value_or(console_->csrf_token()));
    return http_->Post(path.c_str(), headers, "", "text/plain");
  }
  httplib::Result PostWithoutCsrf(const std::string& path) {
    return http_->Post(path.c_str(), httplib::Headers{}, "", "text/plain");
  }

  static rapidjson::Document Json(const httplib::Result& r) {
    rapidjson::Document d;
    d.Parse(r->body.c_str());
    EXPECT_FALSE(d.HasParseError()) << r->body;
    return d;
  }

  // The overview's group of (queue, type).
  static const rapidjson::Value* Group(const rapidjson::Document& d,
                                       const std::string& queue,
                                       const std::string& type) {
    for (const auto& g : d["groups"].GetArray()) {
      if (g["queue"].GetString() == queue && g["type"].GetString() == type) {
        return &g;
      }
    }
    return nullptr;
  }

  std::unique_ptr<Console> console_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(ConsoleTest, OverviewCountsJobsByQueueTypeAndState) {
  Insert("Send", "mail");
  Insert("Send", "mail", "now() - interval '30 seconds'");
  Insert("Send", "mail", "now() + interval '1 hour'");
  Insert("Send", "mail", "now() + interval '1 hour'", 2, "boom");
  Insert("Send", "mail", kDead, 25, "qg: dead after 25 attempts: boom");
  int64_t held = Insert("Report", "");
  PgConnPtr worker = HoldJobLock(held);
  StartConsole();

  httplib::Result r = Get("/api/v1/overview");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  rapidjson::Document d = Json(r);
  const rapidjson::Value* send = Group(d, "mail", "Send");
  ASSERT_NE(send, nullptr) << r->body;
  EXPECT_EQ((*send)["count"].GetInt(), 5);
  EXPECT_EQ((*send)["ready"].GetInt(), 2);
  EXPECT_EQ((*send)["scheduled"].GetInt(), 2);
  EXPECT_EQ((*send)["working"].GetInt(), 0);
  EXPECT_EQ((*send)["errored"].GetInt(), 2);
  EXPECT_EQ((*send)["dead"].GetInt(), 1);
  EXPECT_GE((*send)["oldest_ready_age_seconds"].GetDouble(), 59);
  EXPECT_LT((*send)["oldest_ready_age_seconds"].GetDouble(), 600);
  const rapidjson::Value* report = Group(d, "", "Report");
  ASSERT_NE(report, nullptr);
  EXPECT_EQ((*report)["working"].GetInt(), 1);
  EXPECT_EQ((*report)["ready"].GetInt(), 0);
  EXPECT_TRUE((*report)["oldest_ready_run_at"].IsNull());
  EXPECT_TRUE(d["pause_state_available"].GetBool());
  EXPECT_TRUE(d["throughput"]["available"].GetBool());
  EXPECT_EQ(d["throughput"]["minutes"].Size(), 180u);
}

TEST_F(ConsoleTest, StatsHaveTheShapeOfQgStatsJson) {
  Insert("Send", "mail", "now()", 1, "x");
  Insert("Other");
  StartConsole();
  QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Admin> admin,
                          Admin::Connect({.conninfo = db_->conninfo()}));
  QG_ASSERT_OK_AND_ASSIGN(StatsReport report, admin->Stats());
  std::vector<JsonObject> items;
  for (const JobStats& s : report.groups) {
    items.push_back(StatsJson(s, report.paused(s.queue)));
  }
  httplib::Result r = Get("/api/v1/stats");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, JsonArray(items));
  EXPECT_EQ(r->get_header_value("Content-Type"),
            "application/json; charset=utf-8");
}

TEST_F(ConsoleTest, OverviewShowsPauseStateFromQgQueues) {
  Insert("Send", "mail");
  Query(
      "INSERT INTO qg_queues (queue, paused) VALUES ('mail', true), "
      "('idle', false) RETURNING 1");
  StartConsole();
  httplib::Result r = Get("/api/v1/overview");
  ASSERT_TRUE(r);
  rapidjson::Document d = Json(r);
  EXPECT_TRUE((*Group(d, "mail", "Send"))["paused"].GetBool());
  std::map<std::string, bool> paused;
  for (const auto& q : d["queues"].GetArray()) {
    paused[q["queue"].GetString()] = q["paused"].GetBool();
  }
  EXPECT_EQ(paused,
            (std::map<std::string, bool>{{"idle", false}, {"mail", true}}));
  httplib::Result m = Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_THAT(m->body, HasSubstr("qg_queue_paused{queue=\"mail\"} 1\n"));
}

TEST_F(ConsoleTest, ThroughputSumsPerMinuteFromQgJobCounts) {
  Query(
      "INSERT INTO qg_job_counts (minute, queue, job_class, completed, "
      "retried, dead) VALUES "
      "(date_trunc('minute', now()) - interval '2 minutes', '', 'A', 5, 1, "
      "0), (date_trunc('minute', now()) - interval '2 minutes', 'q', 'B', "
      "3, 0, 2), (date_trunc('minute', now()) - interval '10 hours', '', "
      "'A', 100, 0, 0) RETURNING 1");
  StartConsole({.throughput_minutes = 60});
  httplib::Result r = Get("/api/v1/throughput");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  rapidjson::Document d = Json(r);
  const auto& minutes = d["minutes"];
  ASSERT_EQ(minutes.Size(), 60u);
  const auto& m = minutes[57];  // two minutes before the current one
  EXPECT_EQ(m["completed"].GetInt(), 8);
  EXPECT_EQ(m["failed"].GetInt(), 3);
  EXPECT_EQ(m["dead"].GetInt(), 2);
  int64_t total = 0;
  for (const auto& x : minutes.GetArray()) total += x["completed"].GetInt();
  EXPECT_EQ(total, 8);  // the row 10 h ago is outside the window

  r = Get("/api/v1/throughput?minutes=5&type=B");
  ASSERT_TRUE(r);
  d = Json(r);
  ASSERT_EQ(d["minutes"].Size(), 5u);
  EXPECT_EQ(d["minutes"][2]["completed"].GetInt(), 3);
  r = Get("/api/v1/throughput?minutes=0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST_F(ConsoleTest, JobListPagesWithTheAdminCursorAndFilters) {
  std::set<int64_t> all;
  for (int i = 0; i < 5; ++i) all.insert(Insert("Page", "p"));
  Insert("Other", "p", "now()", 1, "Connection REFUSED by host");
  Insert("Page", "elsewhere");
  StartConsole();
  std::set<int64_t> seen;
  std::string after;
  int pages = 0;
  while (true) {
    std::string path = "/api/v1/jobs?queue=p&type=Page&limit=2";
    if (!after.empty()) {
      path += "&after=" + httplib::detail::encode_query_param(after);
    }
    httplib::Result r = Get(path);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    rapidjson::Document d = Json(r);
    for (const auto& j : d["jobs"].GetArray()) {
      EXPECT_TRUE(seen.insert(j["id"].GetInt64()).second);
      EXPECT_TRUE(j.HasMember("cursor"));
    }
    ++pages;
    if (d["next"].IsNull()) break;
    after = d["next"].GetString();
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(seen, all);
  EXPECT_EQ(pages, 3);

  httplib::Result r = Get("/api/v1/jobs?error=refused&state=errored");
  ASSERT_TRUE(r);
  rapidjson::Document d = Json(r);
  ASSERT_EQ(d["jobs"].Size(), 1u);
  EXPECT_STREQ(d["jobs"][0]["type"].GetString(), "Other");
  EXPECT_STREQ(d["jobs"][0]["last_error"].GetString(),
               "Connection REFUSED by host");
}

TEST_F(ConsoleTest, MalformedFiltersAreBadRequestsWithAMessage) {
  StartConsole();
  for (const auto& [path, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"/api/v1/jobs?state=bogus", "unknown job state"},
           {"/api/v1/jobs?limit=0", "limit must be"},
           {"/api/v1/jobs?limit=x", "limit must be"},
           {"/api/v1/jobs?after=garbage", "is not a job cursor"},
           {"/api/v1/jobs?qeueu=mail", "unknown parameter \\\"qeueu\\\""},
           {"/api/v1/jobs/abc", "is not a job id"},
           {"/api/v1/jobs/-4", "is not a job id"},
       }) {
    httplib::Result r = Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 400) << path;
    EXPECT_THAT(r->body, HasSubstr(message)) << path;
    EXPECT_THAT(r->body, HasSubstr("\"error\":")) << path;
  }
}

TEST_F(ConsoleTest, UnknownJobIsNotFound) {
  StartConsole();
  httplib::Result r = Get("/api/v1/jobs/987654");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("987654"));
  r = Post("/api/v1/jobs/987654/retry");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = Get("/no/such/page");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("no such page"));
}

TEST_F(ConsoleTest, JobShowsArgsFullErrorAndHolder) {
  int64_t id = Insert("Send", "mail", "now()", 3, "line one\nline two",
                      R"({"to":"ada@example.com","n":[1,2]})");
  PgConnPtr worker = HoldJobLock(id);
  std::string pid =
      qg_testing::QueryValue(worker.get(), "SELECT pg_backend_pid()");
  StartConsole();
  httplib::Result r = Get(absl::StrCat("/api/v1/jobs/", id));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  rapidjson::Document d = Json(r);
  EXPECT_STREQ(d["last_error"].GetString(), "line one\nline two");
  EXPECT_STREQ(d["args"]["to"].GetString(), "ada@example.com");
  EXPECT_EQ(absl::StrCat(d["held_by_pid"].GetInt()), pid);
  EXPECT_TRUE(d["working"].GetBool());
  EXPECT_EQ(d["error_count"].GetInt(), 3);
}

TEST_F(ConsoleTest, RetryMakesAnErroredJobRunnableNow) {
  int64_t id = Insert("Send", "", "now() + interval '1 hour'", 1, "boom");
  StartConsole();
  httplib::Result r = Post(absl::StrCat("/api/v1/jobs/", id, "/retry"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_THAT(r->body, HasSubstr(absl::StrCat("job ", id, " will run now")));
  EXPECT_EQ(Query(absl::StrCat("SELECT run_at <= now() FROM que_jobs WHERE "
                               "job_id = ",
                               id)),
            "t");
}

TEST_F(ConsoleTest, DeleteRemovesTheJob) {
  int64_t id = Insert("Send");
  StartConsole();
  httplib::Result r = Post(absl::StrCat("/api/v1/jobs/", id, "/delete"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

TEST_F(ConsoleTest, ActionsOnAHeldJobAreRefusedAndChangeNothing) {
  int64_t id = Insert("Send", "", "now() + interval '1 hour'", 1, "boom");
  PgConnPtr worker = HoldJobLock(id);
  StartConsole();
  for (const char* verb : {"retry", "delete"}) {
    httplib::Result r = Post(absl::StrCat("/api/v1/jobs/", id, "/", verb));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 409) << verb;
    EXPECT_THAT(r->body, HasSubstr("\"error\":")) << verb;
  }
  EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM que_jobs WHERE run_at > "
                               "now() AND job_id = ",
                               id)),
            "1");
}

TEST_F(ConsoleTest, RetryAllRetriesTheErroredJobsOfATypeAndCountsHeldOnes) {
  int64_t a = Insert("A", "", "now() + interval '1 hour'", 1, "x");
  int64_t b = Insert("A", "", kDead, 25, "dead");
  int64_t held = Insert("A", "", "now() + interval '1 hour'", 1, "x");
  int64_t other = Insert("B", "", "now() + interval '1 hour'", 1, "x");
  PgConnPtr worker = HoldJobLock(held);
  StartConsole();
  httplib::Result r = Post("/api/v1/jobs/retry?state=errored&type=A&queue=");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  rapidjson::Document d = Json(r);
  EXPECT_EQ(d["changed"].GetInt(), 2);
  EXPECT_EQ(d["skipped_held"].GetInt(), 1);
  EXPECT_THAT(d["message"].GetString(), HasSubstr("2 jobs will run now"));
  EXPECT_EQ(Query(absl::StrCat("SELECT string_agg(job_id::text, ',' ORDER BY "
                               "job_id) FROM que_jobs WHERE run_at <= now()")),
            absl::StrCat(a, ",", b));
  (void)other;
  r = Post("/api/v1/jobs/retry?type=A");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("state must be errored or dead"));
}

TEST_F(ConsoleTest, CancelPauseAndResumeUseTheLibraryByDefault) {
  int64_t id = Insert("Send");
  StartConsole();
  httplib::Result r = Get("/api/v1/config");
  ASSERT_TRUE(r);
  rapidjson::Document d = Json(r);
  EXPECT_TRUE(d["actions"]["cancel"].GetBool());
  EXPECT_TRUE(d["actions"]["pause"].GetBool());
  EXPECT_TRUE(d["actions"]["resume"].GetBool());
  // Nobody holds the job: cancelled at once, kept as a dead record.
  r = Post(absl::StrCat("/api/v1/jobs/", id, "/cancel"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_THAT(r->body, HasSubstr(R"("outcome":"cancelled")"));
  EXPECT_THAT(r->body, HasSubstr("nobody was running it"));
  EXPECT_EQ(Query(absl::StrCat("SELECT last_error LIKE 'qg: cancelled%' FROM "
                               "que_jobs WHERE job_id = ",
                               id)),
            "t");
  r = Post("/api/v1/jobs/987654/cancel");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  r = Post("/api/v1/queues/pause?queue=mail");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Query("SELECT paused FROM qg_queues WHERE queue = 'mail'"), "t");
  r = Post("/api/v1/queues/resume?queue=mail");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Query("SELECT count(*) FROM qg_queues WHERE queue = 'mail' AND "
                  "paused"),
            "0");
}

TEST_F(ConsoleTest, CancelPauseAndResumeCallTheirHooks) {
  int64_t id = Insert("Send");
  std::vector<std::string> calls;
  std::mutex mu;
  ConsoleOptions options;
  options.actions.cancel_job =
      [&](int64_t job) -> absl::StatusOr<CancelOutcome> {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back(absl::StrCat("cancel ", job));
    if (job == 1) return absl::FailedPreconditionError("job 1 is not running");
    return CancelOutcome::kCancelled;
  };
  options.actions.pause_queue = [&](const std::string& q) {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("pause " + q);
    return absl::OkStatus();
  };
  options.actions.resume_queue = [&](const std::string& q) {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("resume " + q);
    return absl::OkStatus();
  };
  StartConsole(options);
  httplib::Result r = Post(absl::StrCat("/api/v1/jobs/", id, "/cancel"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, id == 1 ? 409 : 200) << r->body;
  r = Post("/api/v1/queues/pause?queue=mail");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("queue mail paused"));
  r = Post("/api/v1/queues/resume?queue=");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("queue (default) resumed"));
  r = Post("/api/v1/queues/resume");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(calls, (std::vector<std::string>{absl::StrCat("cancel ", id),
                                             "pause mail", "resume "}));
}

TEST_F(ConsoleTest, ActionsWithoutOrWithAWrongCsrfTokenAreForbidden) {
  int64_t id = Insert("Send");
  StartConsole();
  httplib::Result r =
      PostWithoutCsrf(absl::StrCat("/api/v1/jobs/", id, "/delete"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->body, HasSubstr("missing CSRF token"));
  r = Post(absl::StrCat("/api/v1/jobs/", id, "/delete"), "not-the-token");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->body, HasSubstr("wrong CSRF token"));
  r = PostWithoutCsrf("/api/v1/jobs/retry?state=errored");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "1");
  // Actions are POST: a link or an <img> cannot trigger one.
  r = Get(absl::StrCat("/api/v1/jobs/", id, "/delete"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "1");
}

TEST_F(ConsoleTest, ThePageCarriesTheCsrfTokenAndSecurityHeaders) {
  StartConsole();
  httplib::Result r = Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body,
              HasSubstr(absl::StrCat("<meta name=\"qg-csrf\" content=\"",
                                     console_->csrf_token(), "\">")));
  EXPECT_EQ(console_->csrf_token().size(), 64u);
  EXPECT_THAT(r->get_header_value("Content-Security-Policy"),
              HasSubstr("script-src 'self'"));
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY");
  r = Get("/static/app.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("textContent"));
  EXPECT_THAT(r->body, Not(HasSubstr("innerHTML =")));
  r = Get("/static/app.css");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ConsoleTest, ReadOnlyRefusesEveryActionAndSaysSo) {
  int64_t id = Insert("Send", "", "now()", 1, "x");
  StartConsole({.read_only = true});
  for (const std::string& path :
       {absl::StrCat("/api/v1/jobs/", id, "/retry"),
        absl::StrCat("/api/v1/jobs/", id, "/delete"),
        absl::StrCat("/api/v1/jobs/", id, "/cancel"),
        std::string("/api/v1/jobs/retry?state=errored"),
        std::string("/api/v1/queues/pause?queue=")}) {
    httplib::Result r = Post(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << path;
    EXPECT_THAT(r->body, HasSubstr("read-only")) << path;
  }
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE error_count = 1"), "1");
  httplib::Result r = Get("/api/v1/config");
  ASSERT_TRUE(r);
  rapidjson::Document d = Json(r);
  EXPECT_TRUE(d["read_only"].GetBool());
  for (const char* action :
       {"retry", "delete", "retry_all", "cancel", "pause", "resume"}) {
    EXPECT_FALSE(d["actions"][action].GetBool()) << action;
  }
  r = Get(absl::StrCat("/api/v1/jobs/", id));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ConsoleTest, BearerTokenGuardsEveryRouteAndTheSignInSetsACookie) {
  int64_t id = Insert("Send");
  StartConsole({.bearer_token = "s3cret-token"});
  httplib::Result r = Get("/api/v1/overview");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, HasSubstr("missing token"));
  r = Get("/api/v1/overview", {{"Authorization", "Bearer wrong"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, HasSubstr("wrong token"));
  r = Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = Post(absl::StrCat("/api/v1/jobs/", id, "/delete"));  // right CSRF
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "1");

  r = Get("/api/v1/overview", {{"Authorization", "Bearer s3cret-token"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = Get("/metrics", {{"Authorization", "Bearer s3cret-token"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  // The page: a sign-in form, then a cookie.
  r = Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, HasSubstr("action=\"/login\""));
  EXPECT_THAT(r->body, Not(HasSubstr(console_->csrf_token())));
  r = http_->Post("/login", httplib::Params{{"token", "wrong"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, HasSubstr("not the console"));
  r = http_->Post("/login", httplib::Params{{"token", "s3cret-token"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  std::string cookie = r->get_header_value("Set-Cookie");
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Strict"));
  EXPECT_THAT(cookie, Not(HasSubstr("s3cret-token")));
  std::string session = cookie.substr(0, cookie.find(';'));
  r = Get("/", {{"Cookie", session}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr(console_->csrf_token()));
  r = Post(absl::StrCat("/api/v1/jobs/", id, "/delete"), std::nullopt,
           {{"Cookie", session}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

TEST_F(ConsoleTest, RefusesHostNamesOnALoopbackAddress) {
  StartConsole();
  httplib::Result r =
      Get("/api/v1/config", {{"Host", "attacker.example:8080"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->body, HasSubstr("not allowed"));
  r = Get("/api/v1/config", {{"Host", "localhost:8080"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ConsoleTest, ConninfoIsShownRedacted) {
  StartConsole({.conninfo = db_->conninfo() + " password=hunter2"});
  httplib::Result r = Get("/api/v1/config");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, Not(HasSubstr("hunter2")));
  EXPECT_THAT(r->body, HasSubstr("password="));
}

TEST_F(ConsoleTest, MetricsComeFromACachedSnapshotInTheTextFormat) {
  Insert("Send", "ma\"il");
  Insert("Send", "ma\"il", "now() + interval '1 hour'");
  StartConsole({.refresh = absl::Hours(1)});
  for (int i = 0; i < 19; ++i) {
    httplib::Result scrape = Get("/metrics");
    ASSERT_TRUE(scrape);
    ASSERT_EQ(scrape->status, 200);
  }
  httplib::Result r = Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(r->body, HasSubstr("# TYPE qg_queue_jobs gauge\n"));
  EXPECT_THAT(r->body,
              HasSubstr("qg_queue_jobs{queue=\"ma\\\"il\",type=\"Send\","
                        "state=\"ready\"} 1\n"));
  EXPECT_THAT(r->body,
              HasSubstr("qg_queue_jobs{queue=\"ma\\\"il\",type=\"Send\","
                        "state=\"scheduled\"} 1\n"));
  EXPECT_THAT(r->body, HasSubstr("qg_queue_oldest_ready_age_seconds{"));
  EXPECT_THAT(r->body, HasSubstr("qg_console_snapshot_refreshes_total 1\n"));
  // The overview shares the snapshot: no new read.
  ASSERT_TRUE(Get("/api/v1/overview"));
  Insert("Send", "ma\"il");
  r = Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_THAT(r->body, HasSubstr("qg_console_snapshot_refreshes_total 1\n"));
  EXPECT_THAT(r->body,
              HasSubstr("state=\"ready\"} 1\n"));  // still the cached count

  StartConsole({.refresh = absl::Milliseconds(200)});
  ASSERT_TRUE(Get("/metrics"));
  absl::SleepFor(absl::Milliseconds(250));
  r = Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_THAT(r->body,
              HasSubstr("qg_queue_jobs{queue=\"ma\\\"il\",type=\"Send\","
                        "state=\"ready\"} 2\n"));
  EXPECT_THAT(r->body, HasSubstr("qg_console_snapshot_refreshes_total 2\n"));
}

TEST_F(ConsoleTest, ConcurrentScrapesShareOneRead) {
  Insert("Send");
  StartConsole({.refresh = absl::Hours(1), .threads = 8});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      httplib::Client c("127.0.0.1", console_->port());
      for (int i = 0; i < 10; ++i) {
        if (auto r = c.Get("/metrics"); r && r->status == 200) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  httplib::Result r = Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_THAT(r->body, HasSubstr("qg_console_snapshot_refreshes_total 1\n"));
}

TEST_F(ConsoleTest, BusyPortAndBadAddressAreReported) {
  StartConsole();
  absl::StatusOr<std::unique_ptr<Console>> again =
      Console::Start({.conninfo = db_->conninfo(),
                      .listen = absl::StrCat("127.0.0.1:", console_->port())});
  EXPECT_THAT(again.status(),
              qg_testing::StatusIs(absl::StatusCode::kUnavailable));
  absl::StatusOr<std::unique_ptr<Console>> bad =
      Console::Start({.conninfo = db_->conninfo(), .listen = "nope"});
  EXPECT_THAT(bad.status(),
              qg_testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

// Regression (issue 17, defect 7): four connections sending one header
// byte every 2 s held the console's four threads, unauthenticated, and
// nothing else was answered, /metrics included.
TEST_F(ConsoleTest, SlowClientsDribblingHeadersDoNotStarveTheConsole) {
  StartConsole();
  qg_testing::SlowClients slow(console_->port(), 10);
  EXPECT_TRUE(qg_testing::EventuallyAnswered(console_->port(), "/metrics"));
  EXPECT_TRUE(
      qg_testing::EventuallyAnswered(console_->port(), "/api/v1/config"));
}

// Regression (issue 17): a POST without a body (no Content-Length, as
// `curl -X POST` sends it) waited for a body until the read timeout and got
// {"error":"HTTP 400"} before the CSRF check could say what was missing.
TEST_F(ConsoleTest, PostWithoutABodyIsAnsweredByTheChecks) {
  int64_t id = Insert("Send");
  StartConsole();
  std::string answer = qg_testing::RawHttp(
      console_->port(),
      absl::StrCat("POST /api/v1/jobs/", id,
                   "/delete HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
                   "close\r\n\r\n"));
  EXPECT_THAT(answer, HasSubstr("HTTP/1.1 403"));
  EXPECT_THAT(answer, HasSubstr("missing CSRF token"));
  answer = qg_testing::RawHttp(
      console_->port(),
      absl::StrCat("POST /api/v1/jobs/", id,
                   "/delete HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
                   "close\r\nX-QG-CSRF: ",
                   console_->csrf_token(), "\r\n\r\n"));
  EXPECT_THAT(answer, HasSubstr("HTTP/1.1 200"));
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

// Regression (issue 17, defect 8): the job list selected every listed
// job's args, which it never shows (5 jobs with large args: 6.4 s and
// 790 MB). A role that may not read que_jobs.args can list jobs now.
TEST_F(ConsoleTest, TheJobListReadsNoArgs) {
  Insert("Send", "mail", "now()", 0, "", R"(["secret"])");
  Insert("Send", "mail", "now()", 1, "boom", R"(["secret"])");
  const std::string role = "qg_console_" + db_->name();
  QG_ASSERT_OK(
      ExecSimple(
          conn_.get(),
          absl::StrCat("DROP ROLE IF EXISTS ", role, "; CREATE ROLE ", role,
                       " LOGIN; GRANT USAGE ON SCHEMA public TO ", role,
                       "; GRANT SELECT (queue, priority, run_at, "
                       "job_id, job_class, error_count, last_error) "
                       "ON que_jobs TO ",
                       role))
          .status());
  StartConsole({.conninfo = absl::StrCat(db_->conninfo(), " user=", role)});
  httplib::Result r = Get("/api/v1/jobs?queue=mail");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_THAT(r->body, Not(HasSubstr("secret")));
  rapidjson::Document d = Json(r);
  ASSERT_TRUE(d.HasMember("jobs")) << r->body;
  EXPECT_EQ(d["jobs"].Size(), 2u);
  console_.reset();
  QG_EXPECT_OK(ExecSimple(conn_.get(), absl::StrCat("DROP OWNED BY ", role,
                                                    "; DROP ROLE ", role))
                   .status());
}

// Regression (issue 17, defect 8): what the list and the job view send is
// bounded whatever a row holds: a list entry's last error is its first
// line cut at 1000 characters, the job view's args and last error at
// 64 KiB of text (it says so and how large they are).
TEST_F(ConsoleTest, WhatAJobShowsIsBoundedWhateverItsRowHolds) {
  const std::string big_error = std::string(1 << 20, 'e');
  const std::string big_args = "[\"" + std::string(1 << 20, 'a') + "\"]";
  int64_t id = Insert("Big", "", "now()", 1, big_error, big_args);
  StartConsole();
  httplib::Result r = Get("/api/v1/jobs");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_LT(r->body.size(), 4000u);
  rapidjson::Document d = Json(r);
  ASSERT_EQ(d["jobs"].Size(), 1u);
  std::string line = d["jobs"][0]["last_error"].GetString();
  EXPECT_EQ(line.size(), 1000u);
  EXPECT_TRUE(line == big_error.substr(0, 1000));
  r = Get(absl::StrCat("/api/v1/jobs/", id));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_LT(r->body.size(), 200000u);
  d = Json(r);
  ASSERT_TRUE(d.HasMember("args_truncated")) << r->body.substr(0, 300);
  EXPECT_TRUE(d["args_truncated"].GetBool());
  EXPECT_TRUE(d["args"].IsNull());
  EXPECT_EQ(d["args_bytes"].GetInt64(), static_cast<int64_t>(big_args.size()));
  std::string preview = d["args_preview"].GetString();
  EXPECT_EQ(preview.size(), 65536u);
  EXPECT_TRUE(preview == big_args.substr(0, 65536));
  EXPECT_TRUE(d["last_error_truncated"].GetBool());
  std::string error = d["last_error"].GetString();
  EXPECT_EQ(error.size(), 65536u);
  EXPECT_TRUE(error == big_error.substr(0, 65536));
  EXPECT_EQ(d["last_error_bytes"].GetInt64(),
            static_cast<int64_t>(big_error.size()));
}

// Regression (issue 17, class of defect 8): a filter that matches little
// walked the whole table for one page. A page now looks at no more than
// 10,000 jobs; when it stops there unfilled it says so and gives the
// cursor to search on from.
TEST_F(ConsoleTest, AFilteredPageLooksAtABoundedNumberOfJobs) {
  QG_ASSERT_OK(ExecSimple(conn_.get(),
                          "INSERT INTO que_jobs (queue, job_class) SELECT "
                          "'a', 'Filler' FROM generate_series(1, 10050)")
                   .status());
  int64_t needle = Insert("Needle", "z");
  StartConsole();
  httplib::Result r = Get("/api/v1/jobs?type=Needle");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  rapidjson::Document d = Json(r);
  EXPECT_EQ(d["jobs"].Size(), 0u) << r->body;
  ASSERT_TRUE(d["next"].IsString()) << r->body;
  ASSERT_TRUE(d.HasMember("searched")) << r->body;
  EXPECT_EQ(d["searched"].GetInt(), 10000);
  std::string after = d["next"].GetString();
  r = Get("/api/v1/jobs?type=Needle&after=" +
          httplib::detail::encode_query_param(after));
  ASSERT_TRUE(r);
  d = Json(r);
  ASSERT_EQ(d["jobs"].Size(), 1u) << r->body;
  EXPECT_EQ(d["jobs"][0]["id"].GetInt64(), needle);
  EXPECT_TRUE(d["next"].IsNull());
}

// The limit named `name` in a /api/v1/limits answer; null if none.
const rapidjson::Value* FindLimit(const rapidjson::Document& d,
                                  const std::string& name) {
  if (!d.HasMember("limits")) return nullptr;
  for (const auto& l : d["limits"].GetArray()) {
    if (l["name"].GetString() == name) return &l;
  }
  return nullptr;
}

TEST_F(ConsoleTest, LimitsListEachLimitWithItsUseAndWaitingJobs) {
  PgExecutor exec(conn_.get());
  QG_ASSERT_OK(SetLimit(exec, {.name = "mail",
                               .queue = "mail",
                               .concurrency = 2,
                               .rate = 30,
                               .rate_period = absl::Minutes(1),
                               .rate_burst = 5}));
  QG_ASSERT_OK(SetLimit(exec, {.name = "tenants",
                               .type = "Import",
                               .key_by = Limit::KeyBy::kArgs,
                               .key_args = {"tenant", "region"},
                               .concurrency = 1,
                               .per_pool = true}));
  int64_t held = Insert("Send", "mail");
  Insert("Send", "mail");
  Insert("Send", "mail");
  Insert("Send", "mail", "now() + interval '1 hour'");  // not runnable yet
  Insert("Import", "", "now()", 0, "", R"({"tenant":"a"})");
  PgConnPtr worker = HoldJobLock(held);
  StartConsole();

  httplib::Result r = Get("/api/v1/limits");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  rapidjson::Document d = Json(r);
  EXPECT_TRUE(d["available"].GetBool());
  EXPECT_EQ(d["limits"].Size(), 2u);
  const rapidjson::Value* mail = FindLimit(d, "mail");
  ASSERT_NE(mail, nullptr) << r->body;
  EXPECT_STREQ((*mail)["queue"].GetString(), "mail");
  EXPECT_TRUE((*mail)["type"].IsNull());
  EXPECT_STREQ((*mail)["key_by"].GetString(), "none");
  EXPECT_EQ((*mail)["concurrency"].GetInt(), 2);
  EXPECT_FALSE((*mail)["per_pool"].GetBool());
  EXPECT_EQ((*mail)["rate"].GetInt(), 30);
  EXPECT_EQ((*mail)["rate_period_seconds"].GetDouble(), 60);
  EXPECT_EQ((*mail)["rate_burst"].GetInt(), 5);
  EXPECT_EQ((*mail)["slots_high"].GetInt(), 2);
  EXPECT_EQ((*mail)["running"].GetInt(), 1);
  EXPECT_EQ((*mail)["busiest_bucket"].GetInt(), 1);
  EXPECT_EQ((*mail)["buckets_running"].GetInt(), 1);
  EXPECT_EQ((*mail)["waiting"].GetInt(), 2);
  EXPECT_FALSE((*mail)["waiting_capped"].GetBool());
  EXPECT_TRUE((*mail)["updated_at"].IsString());
  const rapidjson::Value* tenants = FindLimit(d, "tenants");
  ASSERT_NE(tenants, nullptr) << r->body;
  EXPECT_TRUE((*tenants)["queue"].IsNull());
  EXPECT_STREQ((*tenants)["type"].GetString(), "Import");
  EXPECT_STREQ((*tenants)["key_by"].GetString(), "args");
  ASSERT_EQ((*tenants)["key_args"].Size(), 2u);
  EXPECT_STREQ((*tenants)["key_args"][1].GetString(), "region");
  EXPECT_TRUE((*tenants)["per_pool"].GetBool());
  EXPECT_TRUE((*tenants)["rate"].IsNull());
  EXPECT_EQ((*tenants)["waiting"].GetInt(), 1);

  // /metrics has the same numbers.
  r = Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_THAT(r->body, HasSubstr("qg_limit_running{limit=\"mail\"} 1\n"));
  EXPECT_THAT(r->body, HasSubstr("qg_limit_waiting{limit=\"mail\"} 2\n"));
  EXPECT_THAT(r->body, HasSubstr("qg_limit_concurrency{limit=\"tenants\","
                                 "per_pool=\"true\"} 1\n"));
  EXPECT_THAT(r->body, HasSubstr("qg_limit_rate{limit=\"mail\"} 30\n"));
}

TEST_F(ConsoleTest, LimitsSetCreatesAndReplacesAndRemoveRemoves) {
  StartConsole({.refresh = absl::Hours(1)});
  httplib::Result r = Get("/api/v1/limits");  // cached for an hour...
  ASSERT_TRUE(r);
  EXPECT_EQ(Json(r)["limits"].Size(), 0u);
  r = Post(
      "/api/v1/limits/set?name=mail&queue=&type=Send&concurrency=3&rate=10&"
      "period=1m&burst=2");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_THAT(r->body, HasSubstr("limit mail set"));
  EXPECT_EQ(Query("SELECT concat_ws(' ', queue = '', job_class, key_by, "
                  "concurrency, per_pool, rate, extract(epoch FROM "
                  "rate_period), rate_burst) FROM qg_limits WHERE name = "
                  "'mail'"),
            "t Send none 3 f 10 60.000000 2");
  r = Get("/api/v1/limits");  // ...but a change reads it again
  ASSERT_TRUE(r);
  rapidjson::Document d = Json(r);
  const rapidjson::Value* mail = FindLimit(d, "mail");
  ASSERT_NE(mail, nullptr) << r->body;
  EXPECT_STREQ((*mail)["queue"].GetString(), "");  // the default queue
  EXPECT_EQ((*mail)["concurrency"].GetInt(), 3);

  // Set replaces the whole limit: every queue, per tenant, no rate.
  r = Post(
      "/api/v1/limits/set?name=mail&key_args=tenant&concurrency=1&per_pool="
      "true");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Query("SELECT concat_ws(' ', coalesce(queue, 'ALL'), "
                  "coalesce(job_class, 'ALL'), key_by, key_args::text, "
                  "concurrency, per_pool, coalesce(rate, -1)) FROM qg_limits "
                  "WHERE name = 'mail'"),
            "ALL ALL args {tenant} 1 t -1");
  r = Get("/api/v1/limits");
  ASSERT_TRUE(r);
  d = Json(r);
  mail = FindLimit(d, "mail");
  ASSERT_NE(mail, nullptr) << r->body;
  EXPECT_TRUE((*mail)["queue"].IsNull());
  EXPECT_TRUE((*mail)["rate"].IsNull());
  EXPECT_EQ((*mail)["concurrency"].GetInt(), 1);

  r = Post("/api/v1/limits/remove?name=mail");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_THAT(r->body, HasSubstr("limit mail removed"));
  EXPECT_EQ(Query("SELECT count(*) FROM qg_limits"), "0");
  r = Post("/api/v1/limits/remove?name=mail");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  EXPECT_THAT(r->body, HasSubstr("no limit named \\\"mail\\\""));
  r = Get("/api/v1/limits");
  ASSERT_TRUE(r);
  EXPECT_EQ(Json(r)["limits"].Size(), 0u);
  // Actions are POST.
  r = Get("/api/v1/limits/set?name=x&concurrency=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(Query("SELECT count(*) FROM qg_limits"), "0");
}

TEST_F(ConsoleTest, BadLimitsAreBadRequestsWithAClearMessage) {
  PgExecutor exec(conn_.get());
  QG_ASSERT_OK(SetLimit(exec, {.name = "keep", .concurrency = 4}));
  StartConsole();
  for (const auto& [query, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"concurrency=1", "name is required"},
           {"name=&concurrency=1", "name"},
           {"name=keep", "set a concurrency, a rate or both"},
           {"name=keep&concurrency=1001", "concurrency must be 0 to 1000"},
           {"name=keep&concurrency=-1", "concurrency must be 0 to 1000"},
           {"name=keep&concurrency=lots", "concurrency must be a whole number"},
           {"name=keep&rate=0", "rate must be at least 1"},
           {"name=keep&rate=5&period=soon", "period must be seconds or a"},
           {"name=keep&rate=5&period=0", "period must be 1ms to 366 days"},
           {"name=keep&rate=5&burst=0", "burst must be 1 to 1000000"},
           {"name=keep&concurrency=1&period=1m",
            "period and burst go with rate"},
           {"name=keep&concurrency=1&key_by=args", "key by args needs"},
           {"name=keep&concurrency=1&key_by=tenant", "key_by must be none"},
           {"name=keep&concurrency=1&key_by=job&key_args=a",
            "key_args goes with key_by=args"},
           {"name=keep&concurrency=1&per_pool=maybe", "per_pool must be"},
           {"name=keep&concurency=1", "unknown parameter \\\"concurency\\\""},
       }) {
    httplib::Result r = Post("/api/v1/limits/set?" + query);
    ASSERT_TRUE(r) << query;
    EXPECT_EQ(r->status, 400) << query << ": " << r->body;
    EXPECT_THAT(r->body, HasSubstr(message)) << query;
    EXPECT_THAT(r->body, HasSubstr("\"error\":")) << query;
  }
  httplib::Result r = Post("/api/v1/limits/remove");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("name is required"));
  EXPECT_EQ(Query("SELECT concat_ws(' ', name, concurrency) FROM qg_limits"),
            "keep 4");
}

TEST_F(ConsoleTest, ReadOnlyRefusesLimitChangesAndSaysSo) {
  PgExecutor exec(conn_.get());
  QG_ASSERT_OK(SetLimit(exec, {.name = "keep", .concurrency = 4}));
  StartConsole({.read_only = true});
  for (const std::string path : {"/api/v1/limits/set?name=keep&concurrency=1",
                                 "/api/v1/limits/set?name=new&concurrency=1",
                                 "/api/v1/limits/remove?name=keep"}) {
    httplib::Result r = Post(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << path;
    EXPECT_THAT(r->body, HasSubstr("read-only")) << path;
  }
  EXPECT_EQ(Query("SELECT string_agg(name || ' ' || concurrency, ',') FROM "
                  "qg_limits"),
            "keep 4");
  httplib::Result r = Get("/api/v1/config");
  ASSERT_TRUE(r);
  rapidjson::Document d = Json(r);
  EXPECT_FALSE(d["actions"]["set_limit"].GetBool());
  EXPECT_FALSE(d["actions"]["remove_limit"].GetBool());
  r = Get("/api/v1/limits");  // reading is still allowed
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(FindLimit(Json(r), "keep"), nullptr);
}

TEST_F(ConsoleTest, LimitChangesNeedTheCsrfToken) {
  StartConsole();
  httplib::Result r =
      PostWithoutCsrf("/api/v1/limits/set?name=x&concurrency=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(r->body, HasSubstr("missing CSRF token"));
  r = Post("/api/v1/limits/set?name=x&concurrency=1", "not-the-token");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(Query("SELECT count(*) FROM qg_limits"), "0");
}

TEST_F(ConsoleTest, LimitChangesCallTheirHooks) {
  std::vector<std::string> calls;
  std::mutex mu;
  ConsoleOptions options;
  options.actions.set_limit = [&](const Limit& l) -> absl::Status {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back(absl::StrCat("set ", l.name, " ", l.queue.value_or("ALL"),
                                 " ", l.concurrency.value_or(-1)));
    if (l.name == "denied") return absl::PermissionDeniedError("not you");
    return absl::OkStatus();
  };
  options.actions.remove_limit =
      [&](const std::string& name) -> absl::StatusOr<bool> {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back("remove " + name);
    return true;
  };
  StartConsole(options);
  httplib::Result r = Post("/api/v1/limits/set?name=a&queue=q&concurrency=2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = Post("/api/v1/limits/set?name=denied&concurrency=2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_THAT(r->body, HasSubstr("not you"));
  r = Post("/api/v1/limits/set?name=bad&concurrency=5000");  // never called
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  r = Post("/api/v1/limits/remove?name=a");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(calls, (std::vector<std::string>{"set a q 2", "set denied ALL 2",
                                             "remove a"}));
  EXPECT_EQ(Query("SELECT count(*) FROM qg_limits"), "0");
}

// A database without qg_limits (not migrated for flow control): the list
// says so and is empty, /metrics has no limit gauges, a set is refused
// with the reason.
TEST_F(ConsoleTest, LimitsWithoutTheQgLimitsTable) {
  QG_ASSERT_OK(
      ExecSimple(conn_.get(), "DROP TABLE qg_limits CASCADE").status());
  Insert("Send");
  StartConsole();
  httplib::Result r = Get("/api/v1/limits");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  rapidjson::Document d = Json(r);
  EXPECT_FALSE(d["available"].GetBool());
  EXPECT_THAT(d["unavailable_reason"].GetString(), HasSubstr("qg migrate"));
  EXPECT_EQ(d["limits"].Size(), 0u);
  r = Get("/api/v1/overview");  // the rest of the console works
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, Not(HasSubstr("qg_limit_")));
  r = Post("/api/v1/limits/set?name=x&concurrency=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_THAT(r->body, HasSubstr("qg migrate"));
}

// Cancelling jobs a qg-cpp pool runs: the console says what happened.
class ConsoleCancelTest : public ConsoleTest,
                          public ::testing::WithParamInterface<WorkerMode> {
 protected:
  ConsoleCancelTest() : ConsoleTest() {}
  void SetUp() override {
    ConsoleTest::SetUp();
    QG_ASSERT_OK_AND_ASSIGN(client_, NewClient({.max_conns = 8}));
    // Runs until cancelled, then ends as its args say: "complete" (the
    // handler finishes the job anyway) or "fail"; "ignore" runs on until
    // `release_`.
    work_map_.Register("Long", [this](Job& job) -> absl::Status {
      ++runs_;
      absl::Time give_up = absl::Now() + absl::Seconds(60);
      if (job.args() == R"(["ignore"])") {
        while (!release_ && absl::Now() < give_up) {
          absl::SleepFor(absl::Milliseconds(5));
        }
        return absl::OkStatus();
      }
      while (!job.Cancelled() && absl::Now() < give_up) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      if (job.args() == R"(["complete"])") return absl::OkStatus();
      return absl::CancelledError("stopped");
    });
    WorkerOptions options;
    options.mode = GetParam();
    options.interval = absl::Milliseconds(50);
    pool_ = std::make_unique<WorkerPool>(client_.get(), &work_map_, 1, options);
    QG_ASSERT_OK(pool_->Start());
    StartConsole();
  }
  void TearDown() override {
    release_ = true;
    if (pool_ != nullptr) pool_->Shutdown();
    ConsoleTest::TearDown();
  }
  // Enqueues a Long job ending as `how`, waits until it runs, cancels it
  // through the console and returns the answer.
  rapidjson::Document Cancel(const std::string& how, int64_t* id) {
    int before = runs_;
    absl::StatusOr<int64_t> enqueued =
        client_->Enqueue({.type = "Long", .args = "[\"" + how + "\"]"});
    EXPECT_TRUE(enqueued.ok()) << enqueued.status();
    *id = enqueued.value_or(0);
    EXPECT_TRUE(qg_testing::WaitFor([&] { return runs_ > before; }));
    httplib::Result r = Post(absl::StrCat("/api/v1/jobs/", *id, "/cancel"));
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    return Json(r);
  }
  WorkMap work_map_;
  std::unique_ptr<WorkerPool> pool_;
  std::atomic<int> runs_{0};
  std::atomic<bool> release_{false};
};

INSTANTIATE_TEST_SUITE_P(Modes, ConsoleCancelTest,
                         qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

// Regression (issue 17, defect 11): the console said "job N cancelled"
// when it had only asked, even when the handler then completed the job.
TEST_P(ConsoleCancelTest, AJobItsHandlerCompletesAnywayFinishedFirst) {
  int64_t id = 0;
  rapidjson::Document d = Cancel("complete", &id);
  ASSERT_TRUE(d.HasMember("outcome")) << d["message"].GetString();
  EXPECT_STREQ(d["outcome"].GetString(), "finished");
  EXPECT_THAT(d["message"].GetString(),
              HasSubstr(absl::StrCat("job ", id, " finished first")));
  EXPECT_THAT(d["message"].GetString(), Not(HasSubstr("cancelled:")));
  EXPECT_EQ(CountJobs(), 0);
}

TEST_P(ConsoleCancelTest, AJobItsWorkerStopsIsCancelled) {
  int64_t id = 0;
  rapidjson::Document d = Cancel("fail", &id);
  ASSERT_TRUE(d.HasMember("outcome")) << d["message"].GetString();
  EXPECT_STREQ(d["outcome"].GetString(), "cancelled");
  EXPECT_THAT(d["message"].GetString(),
              HasSubstr(absl::StrCat("job ", id, " cancelled")));
  EXPECT_EQ(Query(absl::StrCat("SELECT last_error LIKE 'qg: cancelled%' FROM "
                               "que_jobs WHERE job_id = ",
                               id)),
            "t");
}

TEST_P(ConsoleCancelTest, AJobStillRunningWasOnlyAskedToStop) {
  int64_t id = 0;
  rapidjson::Document d = Cancel("ignore", &id);
  ASSERT_TRUE(d.HasMember("outcome")) << d["message"].GetString();
  EXPECT_STREQ(d["outcome"].GetString(), "requested");
  EXPECT_THAT(d["message"].GetString(),
              HasSubstr(absl::StrCat("asked the worker running job ", id,
                                     " to stop it")));
  EXPECT_THAT(d["message"].GetString(), HasSubstr("still running"));
}

}  // namespace
}  // namespace qg
