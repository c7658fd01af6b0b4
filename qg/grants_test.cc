// Least-privilege roles (issue 21): `GrantsSql()`, `ApplyGrants()` and
// `CheckGrants()`, and the schema's SECURITY DEFINER functions and pinned
// search_path that let the three roles work. Each test applies the grants
// to group roles of its own, logs in as a member of each (the test server
// trusts local connections: `user=NAME` is enough) and runs the library as
// that role: the enqueuer enqueues every kind of job, a worker pool (both
// modes) runs them, the operator drives `Admin` and the console; what a
// role may not do is refused with `PermissionDenied` and changes nothing.
#include "qg/grants.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "qg/admin.h"
#include "qg/batch.h"
#include "qg/client.h"
#include "qg/console/console.h"
#include "qg/executor.h"
#include "qg/internal/pg.h"
#include "qg/limits.h"
#include "qg/periodic.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/worker_modes.h"
#include "qg/worker/work_map.h"
#include "qg/worker/worker.h"
#include "qg/workflow.h"
#include "schema/schema.h"

namespace qg {
namespace {

using ::qg_testing::StatusIs;
using ::qg_testing::WaitFor;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr GrantRole kAllRoles[] = {GrantRole::kEnqueuer, GrantRole::kWorker,
                                   GrantRole::kOperator};

// The text of every row of qg-cpp's tables, to show that a refused call
// changed nothing.
constexpr char kEverything[] =
    "SELECT md5(coalesce(string_agg(t, E'\\n' ORDER BY t), '')) FROM ("
    "SELECT 'j' || j::text AS t FROM que_jobs AS j UNION ALL "
    "SELECT 'l' || l::text FROM qg_limits AS l UNION ALL "
    "SELECT 'r' || r::text FROM qg_limit_rates AS r UNION ALL "
    "SELECT 'q' || q::text FROM qg_queues AS q UNION ALL "
    "SELECT 's' || s::text FROM qg_history_settings AS s UNION ALL "
    "SELECT 'h' || h::text FROM qg_job_history AS h UNION ALL "
    "SELECT 'c' || c::text FROM qg_cancellations AS c UNION ALL "
    "SELECT 'p' || p::text FROM qg_periodic AS p UNION ALL "
    "SELECT 'b' || b::text FROM qg_batches AS b UNION ALL "
    "SELECT 'a' || a::text FROM qg_batch_adds AS a UNION ALL "
    "SELECT 'd' || d::text FROM qg_job_deps AS d) AS x";

// Every test: the grants applied to group roles named after its database
// (roles are the cluster's, shared by the tests of this binary), and one
// login role in each, dropped again at the end.
class GrantsTest : public qg_testing::DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    if (HasFatalFailure()) return;
    const std::string& d = db_->name();
    roles_.enqueuer_role = "qg_enqueuer_" + d;
    roles_.worker_role = "qg_worker_" + d;
    roles_.operator_role = "qg_operator_" + d;
    QG_ASSERT_OK(ApplyGrants(conn_.get(), roles_));
    for (GrantRole role : kAllRoles) {
      QG_ASSERT_OK(ExecSimple(conn_.get(),
                              absl::StrCat("CREATE ROLE ", Login(role),
                                           " LOGIN IN ROLE ", roles_.For(role)))
                       .status());
    }
  }

  void TearDown() override {
    // What the roles were granted here first, then the roles.
    std::string drop;
    for (GrantRole role : kAllRoles) {
      absl::StrAppend(&drop, "DROP OWNED BY ", Login(role), ", ",
                      roles_.For(role), "; DROP ROLE IF EXISTS ", Login(role),
                      ", ", roles_.For(role), ";");
    }
    if (conn_ != nullptr) {
      QG_EXPECT_OK(ExecSimple(conn_.get(), drop).status());
    }
    DatabaseTest::TearDown();
  }

  // The login role that is a member of `role`'s group role.
  std::string Login(GrantRole role) const {
    return absl::StrCat(GrantRoleName(role), "_", db_->name());
  }
  // This test's database as that login role.
  std::string As(GrantRole role) const {
    return absl::StrCat(db_->conninfo(), " user=", Login(role));
  }

  absl::StatusOr<std::unique_ptr<Client>> ClientAs(GrantRole role,
                                                   ClientOptions options = {}) {
    options.conninfo = As(role);
    return NewClient(std::move(options));
  }
  absl::StatusOr<std::unique_ptr<Admin>> AdminAs(GrantRole role) {
    return Admin::Connect({.conninfo = As(role)});
  }

  // Runs `sql` as the login of `role`: its status.
  absl::Status ExecAs(GrantRole role, const std::string& sql) {
    absl::StatusOr<PgConnPtr> conn = Connect(As(role));
    if (!conn.ok()) return conn.status();
    return ExecSimple(conn->get(), sql).status();
  }

  // How many advisory locks any session holds: a refused change must not
  // leave a job's lock behind.
  int64_t AdvisoryLocks() {
    return QueryInt(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
        "database = (SELECT oid FROM pg_database WHERE datname = "
        "current_database())");
  }

  GrantRoles roles_;
};

TEST(GrantsSqlTest, CreatesRolesWhereMissingAndGrantsEachItsOwn) {
  QG_ASSERT_OK_AND_ASSIGN(std::string sql, GrantsSql());
  EXPECT_THAT(sql, StartsWith("-- qg-cpp's least-privilege roles"));
  EXPECT_THAT(sql, HasSubstr("\nBEGIN;\n"));
  EXPECT_THAT(sql, HasSubstr("\nCOMMIT;\n"));
  EXPECT_THAT(sql, HasSubstr("IF NOT EXISTS (SELECT FROM pg_roles WHERE "
                             "rolname = 'qg_worker') THEN"));
  EXPECT_THAT(sql, HasSubstr("CREATE ROLE \"qg_operator\" NOLOGIN;"));
  // The enqueuer adds and reads; it changes and deletes no job.
  EXPECT_THAT(sql, HasSubstr("GRANT SELECT, INSERT ON TABLE que_jobs TO "
                             "\"qg_enqueuer\";"));
  EXPECT_THAT(sql, Not(HasSubstr("UPDATE ON TABLE que_jobs TO "
                                 "\"qg_enqueuer\"")));
  EXPECT_THAT(sql, HasSubstr("GRANT EXECUTE ON FUNCTION qg_enqueue_child, "
                             "qg_batch_seal TO \"qg_enqueuer\";"));
  EXPECT_THAT(sql, HasSubstr("GRANT SELECT, UPDATE, DELETE ON TABLE que_jobs "
                             "TO \"qg_worker\";"));
  EXPECT_THAT(sql, HasSubstr("GRANT INSERT ON TABLE que_jobs TO "
                             "\"qg_worker\";"));
  // Limits are the operator's to change; the worker reads them.
  EXPECT_THAT(sql, HasSubstr("GRANT SELECT ON TABLE qg_limits TO "
                             "\"qg_worker\";"));
  EXPECT_THAT(sql, HasSubstr("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "
                             "qg_limits TO \"qg_operator\";"));
  // Long statements are wrapped after a comma.
  EXPECT_THAT(sql, HasSubstr("GRANT EXECUTE ON FUNCTION qg_lock_jobs, "
                             "qg_rows_where_read, qg_next_due,\n    "
                             "qg_sweep,"));
  for (absl::string_view line : absl::StrSplit(sql, '\n')) {
    EXPECT_LE(line.size(), 79u) << line;
  }
}

TEST(GrantsSqlTest, QuotesEveryNameAndRefusesTheReservedOnes) {
  QG_ASSERT_OK_AND_ASSIGN(std::string sql,
                          GrantsSql({.enqueuer_role = "app's \"enqueuer\"",
                                     .worker_role = "Worker, $qg$ Role",
                                     .operator_role = "ops\\team"}));
  EXPECT_THAT(sql, HasSubstr("CREATE ROLE \"app's \"\"enqueuer\"\"\" "
                             "NOLOGIN;"));
  EXPECT_THAT(sql, HasSubstr("rolname = 'app''s \"enqueuer\"'"));
  // A name is never broken across lines, commas and all.
  EXPECT_THAT(sql, HasSubstr("TO \"Worker, $qg$ Role\";"));
  EXPECT_THAT(sql, HasSubstr("rolname = E'ops\\\\team'"));
  // A name holding the usual dollar-quote tag gets blocks with another.
  EXPECT_THAT(sql, HasSubstr("DO $qg1$"));
  // The same role for two kinds is created once.
  QG_ASSERT_OK_AND_ASSIGN(sql, GrantsSql({.enqueuer_role = "app",
                                          .worker_role = "app",
                                          .operator_role = "ops"}));
  size_t first = sql.find("CREATE ROLE \"app\"");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(sql.find("CREATE ROLE \"app\"", first + 1), std::string::npos);

  EXPECT_THAT(GrantsSql({.enqueuer_role = ""}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the enqueuer role: no name")));
  EXPECT_THAT(GrantsSql({.worker_role = "public"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the worker role: \"public\" is reserved")));
  EXPECT_THAT(
      GrantsSql({.operator_role = "pg_monitor"}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reserved")));
  EXPECT_THAT(GrantsSql({.worker_role = std::string(64, 'w')}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at most 63 bytes")));
  EXPECT_THAT(GrantsSql({.worker_role = "bad \xff"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not valid UTF-8")));
  EXPECT_THAT(GrantsSql({.worker_role = std::string("a\0b", 3)}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
}

// Who each function of the schema runs as and its search_path, as the end
// of schema/qg_additions.sql decides them; and applying the additions again
// (`qg migrate` does) keeps all of it.
TEST_F(GrantsTest, SchemaFunctionsRunAsChosenWithTheirSearchPathPinned) {
  const std::string kFunctions =
      "SELECT string_agg(format('%s %s %s %s', p.proname, "
      "CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END, "
      "coalesce(array_to_string(p.proconfig, '|'), '-'), "
      "CASE WHEN has_function_privilege('public', p.oid, 'EXECUTE') "
      "THEN 'public' ELSE 'granted' END), E'\\n' ORDER BY p.proname) "
      "FROM pg_proc AS p WHERE p.pronamespace = 'public'::regnamespace "
      "AND p.proname LIKE 'qg\\_%'";
  const std::string before = Query(kFunctions);
  std::map<std::string, std::string> by_name;
  for (absl::string_view line : absl::StrSplit(before, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    ASSERT_GE(f.size(), 2u) << line;
    by_name[f[0]] = std::string(line);
  }
  const std::string kHardened = "search_path=pg_catalog, public, pg_temp";
  const std::string kSchemaFirst = "search_path=public, pg_catalog, pg_temp";
  for (const char* name :
       {"qg_enqueue_child", "qg_batch_seal", "qg_batch_added",
        "qg_jobs_deleted", "qg_jobs_updated", "qg_history_deleted"}) {
    EXPECT_THAT(by_name[name],
                AllOf(HasSubstr(" definer "), HasSubstr(kHardened)))
        << name;
  }
  // Definers that can be called are not PUBLIC's: `qg grants` gives them.
  EXPECT_THAT(by_name["qg_enqueue_child"], HasSubstr(" granted"));
  EXPECT_THAT(by_name["qg_batch_seal"], HasSubstr(" granted"));
  // Trigger functions keep JIT off beside the pin.
  EXPECT_THAT(by_name["qg_jobs_deleted"], HasSubstr("jit=off|"));
  for (const char* name :
       {"qg_lock_job", "qg_rows_where_read", "qg_notify_jobs",
        "qg_queue_limits", "qg_limit_bucket_args", "qg_limit_admit",
        "qg_limit_hand", "qg_history_queues", "qg_settle_parents",
        "qg_batch_callback_args", "qg_batch_finish", "qg_batch_settle"}) {
    EXPECT_THAT(by_name[name],
                AllOf(HasSubstr(" invoker "), HasSubstr(kHardened)))
        << name;
  }
  for (const char* name : {"qg_lock_jobs", "qg_next_due", "qg_sweep"}) {
    EXPECT_THAT(by_name[name],
                AllOf(HasSubstr(" invoker "), HasSubstr(kSchemaFirst)))
        << name;
  }
  // Inlined SQL functions: a SET clause would stop their inlining.
  EXPECT_EQ(by_name["qg_limit_bucket"], "qg_limit_bucket invoker - public");
  EXPECT_EQ(by_name["qg_limit_lock_key"], "qg_limit_lock_key invoker - public");
  // Every qg function is one of those above: a new one needs a decision.
  EXPECT_EQ(by_name.size(), 23u) << before;

  QG_ASSERT_OK(ExecSimple(conn_.get(), schema::kQgAdditionsSql).status());
  EXPECT_EQ(Query(kFunctions), before);
  // The enqueuer's EXECUTE survives a migrate.
  QG_EXPECT_OK(ExecAs(GrantRole::kEnqueuer,
                      "SELECT qg_enqueue_child('', 1::smallint, NULL, 'C', "
                      "'[]', NULL, '{}', true, NULL)"));
}

TEST_F(GrantsTest, ApplyingAgainChangesNothingAndAFailedApplyChangesNothing) {
  const std::string kAcls =
      "SELECT string_agg(format('%s=%s', c.relname, c.relacl), ',' ORDER BY "
      "c.relname) || (SELECT string_agg(format('%s.%s=%s', "
      "a.attrelid::regclass, "
      "a.attname, a.attacl), ',' ORDER BY a.attrelid, a.attnum) FROM "
      "pg_attribute AS a WHERE a.attrelid = 'qg_batches'::regclass AND "
      "a.attacl IS NOT NULL) || (SELECT string_agg(format('%s=%s', "
      "p.proname, p.proacl), ',' ORDER BY p.proname) FROM pg_proc AS p "
      "WHERE p.proname LIKE 'qg\\_%') FROM pg_class AS c WHERE c.relnamespace "
      "= 'public'::regnamespace AND c.relkind IN ('r', 'S')";
  const std::string before = Query(kAcls);
  QG_ASSERT_OK(ApplyGrants(conn_.get(), roles_));
  EXPECT_EQ(Query(kAcls), before);

  // A role that may not grant: nothing happens, not even the new roles.
  GrantRoles others{.enqueuer_role = "qg_new_e_" + db_->name(),
                    .worker_role = "qg_new_w_" + db_->name(),
                    .operator_role = "qg_new_o_" + db_->name()};
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr op, Connect(As(GrantRole::kOperator)));
  EXPECT_THAT(ApplyGrants(op.get(), others),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("applying the grants needs the owner of "
                                 "qg-cpp's tables")));
  EXPECT_EQ(Query("SELECT count(*) FROM pg_roles WHERE rolname LIKE "
                  "'qg\\_new\\_%'"),
            "0");
  // A database without the schema: FailedPrecondition, no role created.
  QG_ASSERT_OK_AND_ASSIGN(
      PgConnPtr empty,
      Connect(EmptyDatabase("qg_grants_empty_" + db_->name())));
  EXPECT_THAT(ApplyGrants(empty.get(), others),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("run `qg migrate` first")));
  EXPECT_EQ(Query("SELECT count(*) FROM pg_roles WHERE rolname LIKE "
                  "'qg\\_new\\_%'"),
            "0");
  EXPECT_THAT(
      CheckGrants(empty.get(), GrantRole::kWorker),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("qg migrate")));
  EXPECT_THAT(ApplyGrants(conn_.get(), {.worker_role = "pg_nope"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Names that need quoting (quotes, a backslash, a comma, the dollar-quote
// tag) are applied as the roles they name.
TEST_F(GrantsTest, AppliesNamesThatNeedQuoting) {
  const GrantRoles odd{.enqueuer_role = "it's \"e\" \\ " + db_->name(),
                       .worker_role = "w, $qg$ " + db_->name(),
                       .operator_role = "o " + db_->name()};
  QG_ASSERT_OK(ApplyGrants(conn_.get(), odd));
  EXPECT_EQ(Query("SELECT format('%s %s %s', has_table_privilege($1, "
                  "'que_jobs', 'INSERT'), has_table_privilege($2, 'que_jobs', "
                  "'DELETE'), has_table_privilege($3, 'qg_limits', 'UPDATE'))",
                  {odd.enqueuer_role, odd.worker_role, odd.operator_role}),
            "t t t");
  std::string drop;
  for (GrantRole role : kAllRoles) {
    const std::string q = internal::QuoteIdentifier(odd.For(role));
    absl::StrAppend(&drop, "DROP OWNED BY ", q, "; DROP ROLE ", q, ";");
  }
  QG_EXPECT_OK(ExecSimple(conn_.get(), drop).status());
}

TEST_F(GrantsTest, EachRoleHoldsItsOwnGrantsAndNotTheOthers) {
  for (GrantRole role : kAllRoles) {
    QG_ASSERT_OK_AND_ASSIGN(PgConnPtr conn, Connect(As(role)));
    QG_EXPECT_OK(CheckGrants(conn.get(), role)) << GrantRoleName(role);
    QG_EXPECT_OK(CheckGrants(conn_.get(), role)) << "the superuser";
  }
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr enqueuer,
                          Connect(As(GrantRole::kEnqueuer)));
  EXPECT_THAT(
      CheckGrants(enqueuer.get(), GrantRole::kWorker),
      StatusIs(
          absl::StatusCode::kPermissionDenied,
          AllOf(HasSubstr(absl::StrCat("role \"", Login(GrantRole::kEnqueuer),
                                       "\" lacks what a qg-cpp worker "
                                       "needs: UPDATE, DELETE on "
                                       "que_jobs; SELECT on qg_queues")),
                HasSubstr("`qg grants` prints the GRANTs"))));
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr worker, Connect(As(GrantRole::kWorker)));
  EXPECT_THAT(CheckGrants(worker.get(), GrantRole::kOperator),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("INSERT, UPDATE on qg_queues")));
  EXPECT_THAT(CheckGrants(worker.get(), GrantRole::kOperator),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("INSERT, UPDATE, DELETE on qg_limits")));
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr op, Connect(As(GrantRole::kOperator)));
  EXPECT_THAT(CheckGrants(op.get(), GrantRole::kEnqueuer),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("INSERT (description, success_queue"),
                             HasSubstr("EXECUTE on qg_enqueue_child(); "
                                       "EXECUTE on qg_batch_seal()"))));
}

// A worker role set up with the grants an earlier version documented
// (README, "Security") holds what is essential to running jobs, not all
// that this version grants: a process that checks the essential grants
// before it starts keeps working under it.
TEST_F(GrantsTest, EarlierDocumentedWorkerGrantsAreEssentialEnough) {
  const std::string legacy = "qg_legacy_" + db_->name();
  QG_ASSERT_OK(
      ExecSimple(
          conn_.get(),
          absl::StrCat(
              "CREATE ROLE ", legacy, " LOGIN; ",
              "GRANT SELECT, INSERT, UPDATE, DELETE ON que_jobs TO ", legacy,
              "; GRANT USAGE ON SEQUENCE que_jobs_job_id_seq TO ", legacy,
              "; GRANT SELECT ON qg_limits, qg_queues, qg_history_settings "
              "TO ",
              legacy, "; GRANT SELECT, INSERT, UPDATE ON qg_limit_rates TO ",
              legacy, "; GRANT SELECT, UPDATE ON qg_cancellations TO ", legacy,
              "; GRANT SELECT, INSERT, UPDATE, DELETE ON qg_job_counts, "
              "qg_job_history TO ",
              legacy))
          .status());
  {
    QG_ASSERT_OK_AND_ASSIGN(
        PgConnPtr conn,
        Connect(absl::StrCat(db_->conninfo(), " user=", legacy)));
    QG_EXPECT_OK(
        CheckGrants(conn.get(), GrantRole::kWorker, GrantCheck::kEssential));
    EXPECT_THAT(CheckGrants(conn.get(), GrantRole::kWorker),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         HasSubstr("SELECT, INSERT, UPDATE on qg_periodic")));
  }
  QG_EXPECT_OK(ExecSimple(conn_.get(), absl::StrCat("DROP OWNED BY ", legacy,
                                                    "; DROP ROLE ", legacy))
                   .status());
}

TEST_F(GrantsTest, EnqueuerAddsEveryKindOfJob) {
  QG_ASSERT_OK_AND_ASSIGN(auto client, ClientAs(GrantRole::kEnqueuer));
  QG_ASSERT_OK_AND_ASSIGN(int64_t plain, client->Enqueue({.type = "Plain"}));
  {
    QG_ASSERT_OK_AND_ASSIGN(PgConnPtr own, Connect(As(GrantRole::kEnqueuer)));
    QG_ASSERT_OK_AND_ASSIGN(auto tx, PgTx::Begin(own.get()));
    QG_ASSERT_OK(client->EnqueueInTx({.type = "InTx"}, *tx).status());
    QG_ASSERT_OK(tx->Commit());
  }
  QG_ASSERT_OK(
      client->EnqueueMany({{.type = "Many"}, {.type = "Many"}}).status());
  int made = 0;
  QG_ASSERT_OK_AND_ASSIGN(int64_t streamed,
                          client->EnqueueStream([&](NewJob& job) {
                            if (made == 3) return false;
                            ++made;
                            job.type = "Streamed";
                            return true;
                          }));
  EXPECT_EQ(streamed, 3);
  // Unique jobs: the duplicate is found by reading que_jobs.
  NewJob unique{.type = "Unique", .unique = UniqueOpts{}};
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult first, client->EnqueueDetailed(unique));
  QG_ASSERT_OK_AND_ASSIGN(EnqueueResult again, client->EnqueueDetailed(unique));
  EXPECT_EQ(again, (EnqueueResult{first.id, true}));
  QG_ASSERT_OK_AND_ASSIGN(auto many,
                          client->EnqueueManyDetailed({unique, {.type = "P"}}));
  EXPECT_EQ(many[0], (EnqueueResult{first.id, true}));
  // Workflows: a child waits for its parents, which are marked as parents
  // without the enqueuer's UPDATE on que_jobs.
  Workflow w;
  size_t parent = w.Add({.type = "Parent"});
  w.Add({.type = "Child"}, {parent});
  QG_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids, client->EnqueueWorkflow(w));
  ASSERT_EQ(ids.size(), 2u);
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t child, client->Enqueue({.type = "Child", .depends_on = {plain}}));
  EXPECT_EQ(Query("SELECT count(*) FROM qg_job_deps WHERE state IS NULL"), "2");
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE qg_has_children"), "2");
  EXPECT_EQ(Query("SELECT run_at = '9000-01-01' FROM que_jobs WHERE job_id = "
                  "$1",
                  {absl::StrCat(child)}),
            "t");
  // Batches: created, filled one by one and in bulk, sealed.
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t batch,
      client->CreateBatch({.description = "nightly",
                           .on_finish = NewJob{.type = "BatchDone"}}));
  QG_ASSERT_OK(
      client->Enqueue({.type = "InBatch", .batch_id = batch}).status());
  QG_ASSERT_OK(client
                   ->EnqueueMany({{.type = "InBatch", .batch_id = batch},
                                  {.type = "InBatch", .batch_id = batch}})
                   .status());
  QG_ASSERT_OK(client->SealBatch(batch));
  EXPECT_EQ(Query("SELECT format('%s %s', total, sealed_at IS NOT NULL) FROM "
                  "qg_batches WHERE batch_id = $1",
                  {absl::StrCat(batch)}),
            "3 t");
  EXPECT_EQ(CountJobs(), 1 + 1 + 2 + 3 + 1 + 1 + 2 + 1 + 3);
}

// The enqueuer may not change, delete or read back what others own: each
// attempt is PermissionDenied naming the privilege and saying how to get
// one, and the database is as it was (no job left locked either).
TEST_F(GrantsTest, EnqueuerIsRefusedEverythingButAddingJobs) {
  QG_ASSERT_OK_AND_ASSIGN(auto client, ClientAs(GrantRole::kEnqueuer));
  QG_ASSERT_OK_AND_ASSIGN(int64_t id, client->Enqueue({.type = "Mine"}));
  QG_ASSERT_OK_AND_ASSIGN(int64_t batch, client->CreateBatch({}));
  Query(
      "UPDATE que_jobs SET run_at = '9999-01-01', last_error = 'dead' WHERE "
      "job_id = $1 RETURNING 1",
      {absl::StrCat(id)});
  const std::string before = Query(kEverything);

  QG_ASSERT_OK_AND_ASSIGN(auto admin, AdminAs(GrantRole::kEnqueuer));
  const auto denied = [](absl::string_view what) {
    return StatusIs(
        absl::StatusCode::kPermissionDenied,
        AllOf(HasSubstr(absl::StrCat("permission denied for ", what)),
              HasSubstr("`qg grants` prints the GRANTs")));
  };
  EXPECT_THAT(admin->DeleteJob(id), denied("table que_jobs"));
  EXPECT_THAT(admin->RetryJob(id), denied("table que_jobs"));
  EXPECT_THAT(admin->CancelJob(id, absl::ZeroDuration()).status(),
              denied("table que_jobs"));
  EXPECT_THAT(admin->PauseQueue("q"), denied("table qg_queues"));
  EXPECT_THAT(admin->SetLimit({.name = "l", .concurrency = 1}),
              denied("table qg_limits"));
  EXPECT_THAT(admin->SetHistoryDefault(true),
              denied("table qg_history_settings"));
  EXPECT_THAT(admin->ListHistory({}).status(), denied("table qg_job_history"));
  EXPECT_THAT(client->GetBatch(batch).status(), denied("table qg_batches"));
  EXPECT_THAT(
      ExecAs(GrantRole::kEnqueuer, "UPDATE que_jobs SET run_at = now()"),
      StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(ExecAs(GrantRole::kEnqueuer, "DELETE FROM que_jobs"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // A batch's row: a description and callbacks, never its counts or state.
  EXPECT_THAT(ExecAs(GrantRole::kEnqueuer,
                     "INSERT INTO qg_batches (description, sealed_at, total) "
                     "VALUES ('forged', now(), 0)"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(ExecAs(GrantRole::kEnqueuer,
                     "INSERT INTO qg_batch_adds (batch_id, added) VALUES (" +
                         absl::StrCat(batch) + ", 5)"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // The definers' helpers act as their caller when called directly.
  EXPECT_THAT(
      ExecAs(GrantRole::kEnqueuer,
             "SELECT qg_batch_settle(" + absl::StrCat(batch) + ", 1, 0, 0)"),
      StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(Query(kEverything), before);
  EXPECT_EQ(AdvisoryLocks(), 0);
}

class GrantsWorkerTest : public GrantsTest,
                         public ::testing::WithParamInterface<WorkerMode> {
 protected:
  WorkerOptions Options() const {
    WorkerOptions options;
    options.mode = GetParam();
    options.interval = absl::Milliseconds(20);
    options.queue = "";
    return options;
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, GrantsWorkerTest, qg_testing::BothWorkerModes(),
                         qg_testing::WorkerModeTestName);

// What the enqueuer added, a worker pool runs as the worker: plain jobs, a
// failing one (its error recorded, dead after its one attempt), a
// workflow, a batch and its callback, a periodic schedule; job history on
// (records written by the completing statements), throughput counts, and
// handlers reading their parents and their batch.
TEST_P(GrantsWorkerTest, WorkerPoolRunsWhatTheEnqueuerAdded) {
  {
    QG_ASSERT_OK_AND_ASSIGN(auto admin, AdminAs(GrantRole::kOperator));
    QG_ASSERT_OK(admin->SetHistoryDefault(true));
  }
  QG_ASSERT_OK_AND_ASSIGN(auto enqueuer, ClientAs(GrantRole::kEnqueuer));
  QG_ASSERT_OK(
      enqueuer->EnqueueMany(std::vector<NewJob>(5, {.type = "Ok"})).status());
  QG_ASSERT_OK_AND_ASSIGN(int64_t failing,
                          enqueuer->Enqueue({.type = "Fails"}));
  Workflow w;
  size_t parent = w.Add({.type = "Parent"});
  w.Add({.type = "Child"}, {parent});
  QG_ASSERT_OK(enqueuer->EnqueueWorkflow(w).status());
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t batch,
      enqueuer->CreateBatch({.on_success = NewJob{.type = "BatchDone"}}));
  QG_ASSERT_OK(enqueuer
                   ->EnqueueMany({{.type = "Ok", .batch_id = batch},
                                  {.type = "Ok", .batch_id = batch}})
                   .status());
  QG_ASSERT_OK(enqueuer->SealBatch(batch));

  QG_ASSERT_OK_AND_ASSIGN(
      auto worker,
      ClientAs(GrantRole::kWorker, {.max_conns = 8, .max_attempts = 1}));
  std::atomic<int> ok{0}, ticks{0}, parents_seen{0}, batch_seen{0};
  WorkMap work_map;
  work_map.Register("Ok", [&](Job&) {
    ++ok;
    return absl::OkStatus();
  });
  work_map.Register(
      "Fails", [&](Job&) { return absl::UnavailableError("card declined"); });
  work_map.Register("Parent",
                    [&](Job& job) { return job.SetOutput(R"({"made":1})"); });
  work_map.Register("Child", [&](Job& job) -> absl::Status {
    absl::StatusOr<std::vector<ParentJob>> parents =
        worker->GetParents(job.id());
    if (!parents.ok()) return parents.status();
    if (parents->size() == 1 && (*parents)[0].output == R"({"made":1})") {
      ++parents_seen;
    }
    return absl::OkStatus();
  });
  work_map.Register("BatchDone", [&](Job&) -> absl::Status {
    absl::StatusOr<BatchInfo> info = worker->GetBatch(batch);
    if (!info.ok()) return info.status();
    if (info->total == 2 && info->completed == 2) ++batch_seen;
    return absl::OkStatus();
  });
  work_map.Register("Tick", [&](Job&) {
    ++ticks;
    return absl::OkStatus();
  });
  PeriodicEnqueuer periodic(worker.get());
  PeriodicJob tick;
  tick.name = "tick";
  tick.schedule = "@every 1s";
  tick.job.type = "Tick";
  QG_ASSERT_OK(periodic.Register(tick));
  WorkerOptions options = Options();
  options.periodic = &periodic;
  WorkerPool pool(worker.get(), &work_map, 2, options);
  QG_ASSERT_OK(pool.Start());
  // The worker may write history: a fast pool stays fast.
  EXPECT_EQ(pool.mode(), GetParam()) << pool.mode_reason();
  ASSERT_TRUE(WaitFor([&] {
    return ok == 7 && batch_seen == 1 && parents_seen == 1 && ticks >= 1 &&
           CountJobs("job_class <> 'Tick'") == 0;
  })) << ok
      << " " << batch_seen << " " << parents_seen << " " << ticks;
  pool.Shutdown();
  worker->Close();  // writes the last throughput counts

  EXPECT_THAT(Query("SELECT format('%s: %s', outcome, last_error) FROM "
                    "qg_job_history WHERE job_id = $1",
                    {absl::StrCat(failing)}),
              AllOf(StartsWith("dead: qg: dead after 1 attempt"),
                    HasSubstr("card declined")));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM qg_job_history WHERE outcome = "
                     "'completed' AND job_class <> 'Tick'"),
            7 + 2 + 1);
  EXPECT_EQ(QueryInt("SELECT sum(dead) FROM qg_job_counts"), 1);
  EXPECT_GE(QueryInt("SELECT sum(completed) FROM qg_job_counts"), 10);
  EXPECT_EQ(Query("SELECT finished_at IS NOT NULL FROM qg_batches"), "t");
  EXPECT_EQ(Query("SELECT count(*) FROM qg_periodic WHERE name = 'tick'"), "1");
  for (const std::string& line : logger_.messages()) {
    EXPECT_THAT(line, Not(HasSubstr("permission denied"))) << line;
  }
}

// The operator cancels a job that the worker runs: the request (the
// operator's) is taken by the pool (the worker's), which records the job
// as cancelled.
TEST_P(GrantsWorkerTest, OperatorCancelsAJobTheWorkerRuns) {
  QG_ASSERT_OK_AND_ASSIGN(auto enqueuer, ClientAs(GrantRole::kEnqueuer));
  QG_ASSERT_OK_AND_ASSIGN(int64_t id, enqueuer->Enqueue({.type = "Long"}));
  QG_ASSERT_OK_AND_ASSIGN(auto worker,
                          ClientAs(GrantRole::kWorker, {.max_conns = 4}));
  std::atomic<int> runs{0}, cancelled{0};
  WorkMap work_map;
  work_map.Register("Long", [&](Job& job) -> absl::Status {
    ++runs;
    absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (!job.Cancelled() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (job.cancel_reason() == Job::CancelReason::kCancelled) ++cancelled;
    return absl::CancelledError("stopped");
  });
  WorkerPool pool(worker.get(), &work_map, 1, Options());
  QG_ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitFor([&] { return runs == 1; }));
  QG_ASSERT_OK_AND_ASSIGN(auto admin, AdminAs(GrantRole::kOperator));
  QG_ASSERT_OK_AND_ASSIGN(CancelOutcome outcome,
                          admin->CancelJob(id, absl::Seconds(10)));
  EXPECT_EQ(outcome, CancelOutcome::kStopping);
  ASSERT_TRUE(WaitFor([&] {
    return Query(
               "SELECT run_at >= '9999-01-01' FROM que_jobs WHERE job_id = "
               "$1",
               {absl::StrCat(id)}) == "t";
  }));
  pool.Shutdown();
  EXPECT_EQ(cancelled, 1);
  EXPECT_THAT(Query("SELECT last_error FROM que_jobs"),
              StartsWith("qg: cancelled"));
}

// The worker reads limits, pause state and history settings, and changes
// none of them: refused, nothing changed. A pool that declares limits
// writes them when it starts, so under the worker role it does not start.
TEST_P(GrantsWorkerTest, WorkerMayNotChangeWhatTheOperatorSets) {
  QG_ASSERT_OK(ExecSimple(conn_.get(),
                          "INSERT INTO qg_periodic (name, schedule, time_zone, "
                          "last_occurrence) VALUES ('nightly', '@daily', "
                          "'UTC', now())")
                   .status());
  QG_ASSERT_OK_AND_ASSIGN(auto enqueuer, ClientAs(GrantRole::kEnqueuer));
  QG_ASSERT_OK(enqueuer->Enqueue({.type = "Waits"}).status());
  const std::string before = Query(kEverything);
  QG_ASSERT_OK_AND_ASSIGN(auto admin, AdminAs(GrantRole::kWorker));
  const auto denied = [](absl::string_view table) {
    return StatusIs(
        absl::StatusCode::kPermissionDenied,
        HasSubstr(absl::StrCat("permission denied for table ", table)));
  };
  EXPECT_THAT(admin->SetLimit({.name = "one", .concurrency = 1}),
              denied("qg_limits"));
  EXPECT_THAT(admin->PauseQueue("q"), denied("qg_queues"));
  EXPECT_THAT(admin->SetHistory("q", true), denied("qg_queues"));
  EXPECT_THAT(admin->SetHistoryDefault(true), denied("qg_history_settings"));
  EXPECT_THAT(admin->RemovePeriodic("nightly"), denied("qg_periodic"));
  EXPECT_EQ(Query(kEverything), before);

  QG_ASSERT_OK_AND_ASSIGN(auto worker, ClientAs(GrantRole::kWorker));
  std::atomic<int> runs{0};
  WorkMap work_map;
  work_map.Register("Waits", [&](Job&) {
    ++runs;
    return absl::OkStatus();
  });
  WorkerOptions options = Options();
  options.limits = {{.name = "one", .concurrency = 1}};
  WorkerPool pool(worker.get(), &work_map, 1, options);
  EXPECT_THAT(pool.Start(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("cannot start a worker pool: limit "
                                       "\"one\""),
                             HasSubstr("permission denied for table "
                                       "qg_limits"))));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(Query(kEverything), before);
}

// The enqueuer runs no jobs. `CheckGrants(kWorker, kEssential)` says why,
// for a process to ask before it starts. A pool started under the enqueuer
// anyway runs nothing and changes nothing: today `WorkerPool::Start()`
// does not ask (qg/worker/worker.cc, outside this change), so it starts
// (a fast pool falls back to qg-compatible, which its missing history
// grants explain) and each lock attempt is refused, logged as
// PermissionDenied naming the table; a Start() that asks first returns
// that PermissionDenied itself.
TEST_P(GrantsWorkerTest, EnqueuerRunsNoJobs) {
  QG_ASSERT_OK_AND_ASSIGN(auto enqueuer, ClientAs(GrantRole::kEnqueuer));
  QG_ASSERT_OK(enqueuer->Enqueue({.type = "Waits"}).status());
  const std::string before = Query(kEverything);
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr conn, Connect(As(GrantRole::kEnqueuer)));
  EXPECT_THAT(
      CheckGrants(conn.get(), GrantRole::kWorker, GrantCheck::kEssential),
      StatusIs(absl::StatusCode::kPermissionDenied,
               HasSubstr("worker needs: UPDATE, DELETE on que_jobs; "
                         "SELECT on qg_queues; SELECT on qg_limits "
                         "(`qg grants` prints")));
  std::atomic<int> runs{0};
  WorkMap work_map;
  work_map.Register("Waits", [&](Job&) {
    ++runs;
    return absl::OkStatus();
  });
  WorkerPool pool(enqueuer.get(), &work_map, 1, Options());
  absl::Status started = pool.Start();
  EXPECT_THAT(started, StatusIs(absl::StatusCode::kPermissionDenied,
                                HasSubstr("UPDATE, DELETE on que_jobs")));
  pool.Shutdown();
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(Query(kEverything), before);
  EXPECT_EQ(AdvisoryLocks(), 0);
}

// The operator's side: `Admin` and the console as the operator.
TEST_F(GrantsTest, OperatorOperatesTheQueueAndTheConsole) {
  QG_ASSERT_OK_AND_ASSIGN(auto enqueuer, ClientAs(GrantRole::kEnqueuer));
  QG_ASSERT_OK_AND_ASSIGN(int64_t dead, enqueuer->Enqueue({.type = "Died"}));
  QG_ASSERT_OK_AND_ASSIGN(int64_t doomed,
                          enqueuer->Enqueue({.type = "Doomed"}));
  QG_ASSERT_OK_AND_ASSIGN(
      int64_t unwanted, enqueuer->Enqueue({.type = "Unwanted", .queue = "h"}));
  Query(
      "UPDATE que_jobs SET run_at = '9999-01-01', error_count = 3, last_error "
      "= 'boom' WHERE job_id = $1 RETURNING 1",
      {absl::StrCat(dead)});
  QG_ASSERT_OK(ExecSimple(conn_.get(),
                          "INSERT INTO qg_periodic (name, schedule, time_zone, "
                          "last_occurrence) VALUES ('nightly', '@daily', "
                          "'UTC', now())")
                   .status());

  QG_ASSERT_OK_AND_ASSIGN(auto admin, AdminAs(GrantRole::kOperator));
  QG_ASSERT_OK(admin->Stats().status());
  QG_ASSERT_OK_AND_ASSIGN(JobPage page, admin->ListJobs({}));
  EXPECT_EQ(page.jobs.size(), 3u);
  QG_ASSERT_OK(admin->GetJob(dead).status());
  QG_ASSERT_OK(admin->RetryJob(dead));
  EXPECT_EQ(Query("SELECT run_at <= now() FROM que_jobs WHERE job_id = $1",
                  {absl::StrCat(dead)}),
            "t");
  QG_ASSERT_OK(admin->DeleteJob(doomed));
  EXPECT_EQ(CountJobs(absl::StrCat("job_id = ", doomed)), 0);
  QG_ASSERT_OK(admin->PauseQueue("q"));
  EXPECT_EQ(admin->PausedQueues().value_or(std::vector<std::string>{}),
            std::vector<std::string>{"q"});
  QG_ASSERT_OK(admin->ResumeQueue("q"));
  QG_ASSERT_OK(admin->SetLimit({.name = "one", .concurrency = 1}));
  QG_ASSERT_OK_AND_ASSIGN(std::vector<LimitInfo> limits, admin->ListLimits());
  EXPECT_EQ(limits.size(), 1u);
  QG_ASSERT_OK_AND_ASSIGN(bool removed, admin->RemoveLimit("one"));
  EXPECT_TRUE(removed);
  // History on for queue h: a cancel moves the job into its record, and a
  // retry brings it back from there.
  QG_ASSERT_OK(admin->SetHistory("h", true));
  QG_ASSERT_OK(admin->GetHistorySettings().status());
  QG_ASSERT_OK_AND_ASSIGN(CancelOutcome outcome,
                          admin->CancelJob(unwanted, absl::ZeroDuration()));
  EXPECT_EQ(outcome, CancelOutcome::kCancelled);
  QG_ASSERT_OK_AND_ASSIGN(HistoryPage history, admin->ListHistory({}));
  ASSERT_EQ(history.jobs.size(), 1u);
  EXPECT_EQ(history.jobs[0].id, unwanted);
  QG_ASSERT_OK_AND_ASSIGN(RetriedJob retried,
                          admin->RetryJobDetailed(unwanted));
  EXPECT_TRUE(retried.was_cancelled);
  EXPECT_EQ(CountJobs(absl::StrCat("job_id = ", unwanted)), 1);
  QG_ASSERT_OK(admin->PruneHistory().status());
  QG_ASSERT_OK(admin->ListBatches().status());
  QG_ASSERT_OK(admin->GetWorkflow(dead).status());
  QG_ASSERT_OK_AND_ASSIGN(std::vector<PeriodicInfo> schedules,
                          admin->ListPeriodic());
  EXPECT_EQ(schedules.size(), 1u);
  QG_ASSERT_OK(admin->RemovePeriodic("nightly"));

  // The console reads and acts as the operator.
  QG_ASSERT_OK_AND_ASSIGN(auto console,
                          Console::Start({.conninfo = As(GrantRole::kOperator),
                                          .listen = "127.0.0.1:0"}));
  httplib::Client http("127.0.0.1", console->port());
  for (const std::string& path :
       {std::string("/api/v1/overview"), std::string("/api/v1/stats"),
        std::string("/api/v1/jobs"), absl::StrCat("/api/v1/jobs/", dead),
        absl::StrCat("/api/v1/jobs/", dead, "/workflow"),
        std::string("/api/v1/limits"), std::string("/api/v1/history"),
        std::string("/api/v1/batches"), std::string("/api/v1/throughput"),
        std::string("/metrics")}) {
    httplib::Result r = http.Get(path.c_str());
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
  }
  httplib::Result deleted = http.Post(
      absl::StrCat("/api/v1/jobs/", dead, "/delete").c_str(),
      httplib::Headers{{"X-QG-CSRF", console->csrf_token()}}, "", "text/plain");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 200) << deleted->body;
  EXPECT_EQ(CountJobs(absl::StrCat("job_id = ", dead)), 0);
}

}  // namespace
}  // namespace qg
