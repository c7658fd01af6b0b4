// Tests of the `qg` command line against the embedded PostgreSQL: every
// subcommand, its error paths and exit codes.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/subprocess.h"
#include "qg/testing/test_database.h"

namespace {

using ::qg_testing::Alive;
using ::qg_testing::DiesWithin;
using ::qg_testing::KillAndReap;
using ::qg_testing::ReadFile;
using ::qg_testing::RunfilePath;
using ::qg_testing::Spawn;
using ::qg_testing::TempPath;
using ::qg_testing::Wait;
using ::qg_testing::WaitAtMost;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

struct QgRun {
  int exit_code = -1;
  std::string out, err;
};

// The binary under test: //tools:qg, or $QG_BINARY (an older build, to see a
// regression test fail there:
// --test_env=QG_BINARY=/path/to/old/bazel-bin/tools/qg).
std::string QgBinary() {
  const char* other = getenv("QG_BINARY");
  if (other != nullptr && *other != '\0') return other;
  return RunfilePath("tools/qg");
}

// Starts `qg args...` with DATABASE_URL=`db` (unset when empty), stdout and
// stderr into files, stdin from `in` (the test's own when empty).
pid_t Start(const std::vector<std::string>& args, const std::string& db,
            const std::string& out, const std::string& err,
            const std::string& in = "") {
  std::vector<std::string> argv = {QgBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Spawn(
      {.argv = argv,
       .env = {{"DATABASE_URL", db.empty() ? std::nullopt : std::optional(db)}},
       .stdin_path = in,
       .stdout_path = out,
       .stderr_path = err});
}

QgRun RunQg(const std::vector<std::string>& args, const std::string& db,
            const std::string& in = "") {
  std::string out = TempPath("out");
  std::string err = TempPath("err");
  QgRun r;
  r.exit_code = Wait(Start(args, db, out, err, in));
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

// The pids a handler wrote to `path`, one per line, once it holds `n`.
std::vector<pid_t> WaitForPids(const std::string& path, size_t n,
                               absl::Duration timeout = absl::Seconds(30)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::vector<std::string> lines =
        absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty());
    if (lines.size() >= n) {
      std::vector<pid_t> pids;
      for (const std::string& l : lines) {
        pid_t p = 0;
        if (absl::SimpleAtoi(l, &p)) pids.push_back(p);
      }
      if (pids.size() >= n) return pids;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return {};
}

class QgCommandTest : public qg_testing::DatabaseTest {};

TEST_F(QgCommandTest, HelpOnEverySubcommand) {
  for (const char* cmd :
       {"migrate", "enqueue", "stats", "jobs", "retry", "delete", "cancel",
        "pause", "resume", "periodic", "limits", "work", "demo"}) {
    QgRun r = RunQg({cmd, "--help"}, "");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("Usage: qg ", cmd))) << cmd;
  }
  QgRun top = RunQg({"--help"}, "");
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.out, HasSubstr("qg enqueue --type T"));
}

TEST_F(QgCommandTest, EveryUsageLineNamesTheDatabaseFlag) {
  for (const char* cmd :
       {"migrate", "enqueue", "stats", "jobs", "retry", "delete", "cancel",
        "pause", "resume", "periodic", "limits", "work", "demo"}) {
    QgRun r = RunQg({cmd, "--help"}, "");
    std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
    int forms = 0;
    for (const std::string& line : lines) {
      if (absl::StartsWith(line, "Usage: ") ||
          absl::StartsWith(line, "       qg ")) {
        ++forms;
        EXPECT_THAT(line, HasSubstr("[--db CONNINFO]")) << cmd;
      }
    }
    EXPECT_GE(forms, 1) << cmd;
  }
}

TEST_F(QgCommandTest, UnknownCommandAndFlagAreUsageErrors) {
  EXPECT_EQ(RunQg({"frobnicate"}, db_->conninfo()).exit_code, 2);
  QgRun r = RunQg({"stats", "--bogus"}, db_->conninfo());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown flag --bogus"));
  QgRun wrong = RunQg({"stats", "--type=X"}, db_->conninfo());
  EXPECT_EQ(wrong.exit_code, 2);  // a flag of another subcommand
}

TEST_F(QgCommandTest, HistoryOnListShowAndRetention) {
  QgRun on = RunQg({"history", "on", "billing"}, db_->conninfo());
  EXPECT_EQ(on.exit_code, 0) << on.err;
  EXPECT_THAT(on.out, HasSubstr("job history on for queue \"billing\""));
  EXPECT_EQ(Query("SELECT history FROM qg_queues WHERE queue = 'billing'"),
            "t");
  Query(
      "INSERT INTO qg_job_history (job_id, queue, priority, job_class, "
      "args, outcome, attempts, finished_at, run_time, last_error, output) "
      "VALUES (41, 'billing', 100, 'Invoice', '[1]', 'dead', 3, now(), "
      "interval '2 s', 'qg: dead after 3 attempts: declined', NULL), "
      "(42, 'billing', 100, 'Invoice', '[2]', 'completed', 1, now(), "
      "interval '1 s', NULL, '{\"pdf\":\"x.pdf\"}')");
  QgRun list = RunQg({"history", "--outcome", "dead"}, db_->conninfo());
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("declined"));
  EXPECT_THAT(list.out, ::testing::Not(::testing::ContainsRegex("(^|\\n)42 ")));
  QgRun show = RunQg({"jobs", "42"}, db_->conninfo());
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("finished: completed"));
  EXPECT_THAT(show.out, HasSubstr("{\"pdf\":\"x.pdf\"}"));
  QgRun json = RunQg({"jobs", "42", "--json"}, db_->conninfo());
  EXPECT_THAT(json.out, HasSubstr("\"output\":{\"pdf\":\"x.pdf\"}"));
  QgRun keep = RunQg({"history", "retention", "--keep", "72h", "--max", "none"},
                     db_->conninfo());
  EXPECT_EQ(keep.exit_code, 0) << keep.err;
  EXPECT_THAT(keep.out, HasSubstr("keep 72h, at most any number of records"));
  QgRun bad = RunQg({"history", "--outcome", "lost"}, db_->conninfo());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("unknown job outcome"));
  QgRun prune = RunQg({"history", "prune"}, db_->conninfo());
  EXPECT_EQ(prune.exit_code, 0) << prune.err;
  EXPECT_THAT(prune.out, HasSubstr("pruned 0 record(s)"));
}

TEST_F(QgCommandTest, BatchesListShowAndSeal) {
  Query(
      "INSERT INTO qg_batches (batch_id, description, finish_queue, "
      "finish_priority, finish_type, finish_args) VALUES (7, 'nightly "
      "import', 'cb', 100, 'ImportFinished', '[]')");
  Query(
      "INSERT INTO que_jobs (job_class, qg_batch_id) SELECT 'Import', 7 FROM "
      "generate_series(1, 3)");
  Query(
      "DELETE FROM que_jobs WHERE job_id = (SELECT min(job_id) FROM que_jobs)");
  QgRun list = RunQg({"batches"}, db_->conninfo());
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, ::testing::ContainsRegex(
                            "7 +nightly import +open +3 +1 +0 +0 +2 "));
  QgRun seal = RunQg({"batches", "seal", "7"}, db_->conninfo());
  EXPECT_EQ(seal.exit_code, 0) << seal.err;
  EXPECT_THAT(seal.out, HasSubstr("sealed:    2"));
  EXPECT_THAT(seal.out, HasSubstr("3 total, 1 completed, 0 dead, 0 cancelled, "
                                  "2 waiting or running"));
  Query("DELETE FROM que_jobs WHERE qg_batch_id = 7");
  QgRun json = RunQg({"batches", "7", "--json"}, db_->conninfo());
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"completed\":3"));
  EXPECT_THAT(json.out, ::testing::ContainsRegex("\"finish_job_id\":[0-9]+"));
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE job_class = "
                  "'ImportFinished' AND args::text = '[7]'"),
            "1");
  QgRun missing = RunQg({"batches", "seal", "99"}, db_->conninfo());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("qg batches: qg: no batch 99"));
}

TEST_F(QgCommandTest, LimitsSetListRemove) {
  QgRun set = RunQg({"limits", "set", "per-tenant", "--type", "Import",
                     "--key-args", "tenant_id", "--concurrency", "1"},
                    db_->conninfo());
  EXPECT_EQ(set.exit_code, 0) << set.err;
  EXPECT_THAT(set.out, HasSubstr("limit \"per-tenant\" set: 1 at once"));
  QgRun rate = RunQg({"limits", "set", "mail", "--rate", "100", "--per", "1m",
                      "--queue", "mail"},
                     db_->conninfo());
  EXPECT_EQ(rate.exit_code, 0) << rate.err;
  Query(
      "INSERT INTO que_jobs (job_class, args) VALUES ('Import', "
      "'{\"tenant_id\":7}')");
  QgRun list = RunQg({"limits"}, db_->conninfo());
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("per-tenant"));
  EXPECT_THAT(list.out, HasSubstr("100 per 1m"));
  QgRun json = RunQg({"limits", "--json"}, db_->conninfo());
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"name\":\"mail\""));
  EXPECT_THAT(json.out, HasSubstr("\"key_args\":[\"tenant_id\"]"));
  EXPECT_THAT(json.out, HasSubstr("\"waiting\":1"));
  QgRun removed = RunQg({"limits", "remove", "mail"}, db_->conninfo());
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_THAT(removed.out, HasSubstr("removed"));
  EXPECT_EQ(Query("SELECT string_agg(name, ',') FROM qg_limits"), "per-tenant");
  // Usage mistakes: exit 2, nothing changed.
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{
           {"limits", "set", "x"},                         // no rule
           {"limits", "set", "x", "--concurrency", "-1"},  // out of range
           {"limits", "set", "x", "--rate", "0"},
           {"limits", "set", "x", "--per", "1s"},  // --per alone
           {"limits", "set", "x", "--key-by", "bogus", "--concurrency", "1"},
           {"limits", "frob"},
           {"limits", "remove"},
           {"limits", "--concurrency", "1"},
           {"limits", "set", "bad\xff", "--concurrency", "1"}}) {
    QgRun r = RunQg(bad, db_->conninfo());
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(bad, " ") << ": " << r.err;
  }
  EXPECT_EQ(Query("SELECT count(*) FROM qg_limits"), "1");
}

TEST_F(QgCommandTest, MigrateCreatesSchemaIdempotently) {
  std::string empty = EmptyDatabase("qg_cli_migrate");
  QgRun first = RunQg({"migrate"}, empty);
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.out, HasSubstr("schema version 3 (created)"));
  QgRun second = RunQg({"migrate", "--db", empty}, "");
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("already there"));
}

TEST_F(QgCommandTest, MigrateRefusesAnotherQueVersion) {
  std::string empty = EmptyDatabase("qg_cli_que1");
  auto conn = qg::Connect(empty);
  ASSERT_TRUE(conn.ok());
  // Que 1.x's layout: id instead of job_id, and schema version 4.
  ASSERT_TRUE(qg::ExecSimple(
                  conn->get(),
                  "CREATE TABLE que_jobs (id bigserial PRIMARY KEY, priority "
                  "smallint, run_at timestamptz, job_class text, args jsonb, "
                  "error_count int, last_error_message text, queue text); "
                  "COMMENT ON TABLE que_jobs IS '4'")
                  .ok());
  QgRun r = RunQg({"migrate"}, empty);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("another Que version"));
  QgRun enq = RunQg({"stats"}, empty);
  EXPECT_EQ(enq.exit_code, 1);
  EXPECT_THAT(enq.err, HasSubstr("another Que version"));
}

TEST_F(QgCommandTest, NoDatabaseAndMissingSchemaAreClearErrors) {
  QgRun none = RunQg({"stats"}, "");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("no database"));
  std::string empty = EmptyDatabase("qg_cli_noschema");
  QgRun missing = RunQg({"stats"}, empty);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("qg migrate"));
  QgRun jobs = RunQg({"jobs"}, empty);
  EXPECT_EQ(jobs.exit_code, 1);
  EXPECT_THAT(jobs.err, HasSubstr("qg migrate"));
  QgRun bad = RunQg({"stats", "--db", "host=x nonsense_key=1"}, "");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("invalid conninfo"));
  EXPECT_THAT(bad.err, ::testing::Not(HasSubstr("Check failed")));
}

TEST_F(QgCommandTest, NoSecretOfTheConninfoAppearsInAnyOutputOfAFailure) {
  std::string host = db_->server().socket_host();
  const std::vector<std::string> conninfos = {
      // Unreachable server, key=value and URI forms.
      "host=@qg-nowhere dbname=x user=u password=SECRETPW "
      "sslpassword=SECRETSSL",
      "postgresql://u:SECRETPW@/x?host=@qg-nowhere&sslpassword=SECRETSSL",
      // The real server, a database that does not exist.
      absl::StrCat("host=", host,
                   " dbname=no_such_db user=postgres password=SECRETPW "
                   "sslpassword=SECRETSSL"),
      absl::StrCat("postgresql://postgres:SECRETPW@/no_such_db?host=", host,
                   "&sslpassword=SECRETSSL"),
      // Not parsable at all.
      "host=x password=SECRETPW sslpassword=SECRETSSL nonsense_key=1",
  };
  for (const std::string& db : conninfos) {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{
             {"stats", "--db", db},
             {"stats"},
             {"work", "--handler", "T=true", "--db", db},
             {"work", "--handler", "T=true"},
         }) {
      QgRun r = RunQg(args, db);  // --db, or DATABASE_URL
      EXPECT_NE(r.exit_code, 0) << args[0] << " " << db;
      std::string all = r.out + r.err;
      EXPECT_THAT(all, Not(HasSubstr("SECRETPW"))) << args[0] << ": " << all;
      EXPECT_THAT(all, Not(HasSubstr("SECRETSSL"))) << args[0] << ": " << all;
    }
  }
}

TEST_F(QgCommandTest, EnqueuePrintsIdAndStoresEveryField) {
  QgRun r =
      RunQg({"enqueue", "--type", "SendEmail", "--args", R"({"to": "a@b"})",
             "--queue", "mail", "--priority", "5", "--in", "1h"},
            db_->conninfo());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, MatchesRegex("[0-9]+\n"));
  EXPECT_EQ(Query("SELECT format('%s|%s|%s|%s|%s', job_id, job_class, args, "
                  "queue, priority) FROM que_jobs"),
            absl::StrCat(r.out.substr(0, r.out.size() - 1),
                         R"(|SendEmail|{"to": "a@b"}|mail|5)"));
  EXPECT_EQ(Query("SELECT extract(epoch FROM run_at - now()) BETWEEN 3500 AND "
                  "3601 FROM que_jobs"),
            "t");
  QgRun at =
      RunQg({"enqueue", "--type=T", "--run-at=2030-01-02T03:04:05.123456Z"},
            db_->conninfo());
  ASSERT_EQ(at.exit_code, 0) << at.err;
  EXPECT_EQ(Query("SELECT run_at = '2030-01-02 03:04:05.123456+00' FROM "
                  "que_jobs WHERE job_class = 'T'"),
            "t");
}

TEST_F(QgCommandTest, EnqueueRejectsBadInputWithExitCode2) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"enqueue", "--type", "T", "--args", "{nope"}, "not valid JSON"},
           {{"enqueue", "--args", "[]"}, "--type is required"},
           {{"enqueue", "--type", "T", "--priority", "70000"}, "smallint"},
           {{"enqueue", "--type", "T", "--priority", "high"}, "--priority"},
           {{"enqueue", "--type", "T", "--run-at", "tomorrow"}, "RFC 3339"},
           {{"enqueue", "--type", "T", "--in", "soon"}, "delay"},
           {{"enqueue", "--type", "T", "--in", "1m", "--run-at",
             "2030-01-01T00:00:00Z"},
            "not both"},
       }) {
    QgRun r = RunQg(c.args, db_->conninfo());
    EXPECT_EQ(r.exit_code, 2) << c.args.back();
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args.back();
  }
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

TEST_F(QgCommandTest, EnqueueReadsLargeArgsFromAFileOrStdin) {
  // 200 kB: more than one command-line argument may hold (128 KiB).
  std::string big = absl::StrCat("[\"", std::string(200000, 'x'), "\"]");
  std::string file = TempPath("big-args.json");
  std::ofstream(file) << big;
  QgRun from_file =
      RunQg({"enqueue", "--type", "Big", "--args-file", file}, db_->conninfo());
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(Query("SELECT length(args::text) FROM que_jobs WHERE job_class = "
                  "'Big'"),
            absl::StrCat(big.size()));
  std::string small = TempPath("stdin-args.json");
  std::ofstream(small) << R"({"to": "a@b"})";
  QgRun from_stdin = RunQg({"enqueue", "--type", "Stdin", "--args", "-"},
                           db_->conninfo(), small);
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  EXPECT_EQ(Query("SELECT args::text FROM que_jobs WHERE job_class = 'Stdin'"),
            R"({"to": "a@b"})");
  QgRun both =
      RunQg({"enqueue", "--type", "T", "--args", "[]", "--args-file", file},
            db_->conninfo());
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("not both"));
  QgRun missing =
      RunQg({"enqueue", "--type", "T", "--args-file", TempPath("no-such-file")},
            db_->conninfo());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("cannot read"));
}

TEST_F(QgCommandTest, StatsAsTableAndJson) {
  Query(
      "INSERT INTO que_jobs (job_class, queue, error_count) VALUES "
      "('A', '', 0), ('A', '', 2), ('B', 'q', 0) RETURNING 1");
  QgRun table = RunQg({"stats"}, db_->conninfo());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("QUEUE      TYPE  COUNT  WORKING  ERRORED  "
                                   "MAX_ERRORS  DEAD"));
  EXPECT_THAT(table.out,
              HasSubstr("(default)  A     2      0        1        2"));
  QgRun json = RunQg({"stats", "--json"}, db_->conninfo());
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_THAT(json.out,
              HasSubstr(R"({"queue":"q","type":"B","count":1,"working":0,)"
                        R"("errored":0,"highest_error_count":0,)"));
}

TEST_F(QgCommandTest, JobsListsFirstLineOfLastError) {
  Query(
      "INSERT INTO que_jobs (job_class, queue, error_count, last_error) "
      "VALUES ('Good', 'q', 0, NULL), ('Bad', 'q', 3, E'boom\\n  at "
      "line 2') RETURNING 1");
  QgRun all = RunQg({"jobs"}, db_->conninfo());
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr("Good"));
  EXPECT_THAT(all.out, HasSubstr("boom"));
  EXPECT_THAT(all.out, ::testing::Not(HasSubstr("line 2")));
  QgRun errored = RunQg({"jobs", "--errored", "--json"}, db_->conninfo());
  ASSERT_EQ(errored.exit_code, 0);
  EXPECT_THAT(errored.out, HasSubstr(R"("type":"Bad")"));
  EXPECT_THAT(errored.out, HasSubstr(R"("last_error":"boom")"));
  EXPECT_THAT(errored.out, ::testing::Not(HasSubstr("Good")));
  Query(
      "UPDATE que_jobs SET run_at = '9999-01-01 00:00:00+00' WHERE "
      "job_class = 'Bad' RETURNING 1");
  QgRun dead = RunQg({"jobs", "--dead"}, db_->conninfo());
  EXPECT_THAT(dead.out, HasSubstr("Bad"));
  EXPECT_THAT(dead.out, ::testing::Not(HasSubstr("Good")));
  QgRun other = RunQg({"jobs", "--queue", ""}, db_->conninfo());
  EXPECT_THAT(other.out, HasSubstr("(no jobs)"));
}

TEST_F(QgCommandTest, RetryAndDelete) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count) VALUES "
      "(101, 'A', now() + interval '1 day', 1), (102, 'B', now() + "
      "interval '1 day', 0) RETURNING 1");
  QgRun retry = RunQg({"retry", "101"}, db_->conninfo());
  ASSERT_EQ(retry.exit_code, 0) << retry.err;
  EXPECT_EQ(Query("SELECT run_at <= now() AND error_count = 1 FROM que_jobs "
                  "WHERE job_id = 101"),
            "t");
  // A dead job (out of attempts) also gets its attempts back.
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count) "
      "VALUES (103, 'Dead', '9999-01-01 00:00:00+00', 5) RETURNING 1");
  ASSERT_EQ(RunQg({"retry", "103"}, db_->conninfo()).exit_code, 0);
  EXPECT_EQ(Query("SELECT run_at <= now() AND error_count = 0 FROM que_jobs "
                  "WHERE job_id = 103"),
            "t");
  Query("DELETE FROM que_jobs WHERE job_id = 103 RETURNING 1");
  Query("UPDATE que_jobs SET run_at = now() + interval '1 day' RETURNING 1");
  QgRun all = RunQg({"retry", "--all-errored"}, db_->conninfo());
  ASSERT_EQ(all.exit_code, 0);
  EXPECT_THAT(all.out, HasSubstr("1 job(s)"));
  EXPECT_EQ(RunQg({"retry", "999"}, db_->conninfo()).exit_code, 1);
  EXPECT_EQ(RunQg({"retry", "abc"}, db_->conninfo()).exit_code, 2);

  // A job being worked (its advisory lock held) is not deleted.
  Query("SELECT pg_advisory_lock(102)");
  QgRun busy = RunQg({"delete", "102"}, db_->conninfo());
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_THAT(busy.err, HasSubstr("being worked"));
  Query("SELECT pg_advisory_unlock(102)");
  QgRun del = RunQg({"delete", "102"}, db_->conninfo());
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE job_id = 102"), "0");
  EXPECT_EQ(RunQg({"delete", "102"}, db_->conninfo()).exit_code, 1);
}

TEST_F(QgCommandTest, JobsWorkingIgnoresALockOnTheSameIdInAnotherDatabase) {
  QG_ASSERT_OK_AND_ASSIGN(auto other, qg_testing::TestDatabase::Create());
  Query(
      "INSERT INTO que_jobs (job_id, job_class) VALUES (4242, 'T') "
      "RETURNING 1");
  // A worker of the other database (same server) runs its own job 4242.
  qg::PgConnPtr elsewhere = HoldJobLock(4242, other->conninfo());
  QgRun json = RunQg({"jobs", "--json"}, db_->conninfo());
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr(R"("working":false)"));
  QgRun table = RunQg({"jobs"}, db_->conninfo());
  EXPECT_THAT(table.out, ::testing::Not(HasSubstr("yes")));
  // A worker of this database does hold it.
  qg::PgConnPtr here = HoldJobLock(4242);
  EXPECT_THAT(RunQg({"jobs", "--json"}, db_->conninfo()).out,
              HasSubstr(R"("working":true)"));
}

TEST_F(QgCommandTest, RetryRefusesAJobAWorkerHoldsAndLeavesItAlone) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count) VALUES "
      "(101, 'A', '2030-01-01 00:00:00+00', 2) RETURNING 1");
  qg::PgConnPtr worker = HoldJobLock(101);
  QgRun r = RunQg({"retry", "101"}, db_->conninfo());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("being worked"));
  EXPECT_EQ(Query("SELECT format('%s|%s', run_at, error_count) FROM que_jobs"),
            "2030-01-01 00:00:00+00|2");
}

TEST_F(QgCommandTest, RetryAllErroredSkipsAndReportsJobsInFlight) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count) VALUES "
      "(201, 'A', '2030-01-01 00:00:00+00', 1), "
      "(202, 'A', '2030-01-01 00:00:00+00', 1) RETURNING 1");
  qg::PgConnPtr worker = HoldJobLock(201);
  QgRun r = RunQg({"retry", "--all-errored"}, db_->conninfo());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("1 job(s) will run now"));
  EXPECT_THAT(r.out, HasSubstr("1 job(s) skipped: held by a worker"));
  EXPECT_EQ(Query("SELECT string_agg(format('%s:%s', job_id, run_at <= "
                  "now()), ' ' ORDER BY job_id) FROM que_jobs"),
            "201:f 202:t");
}

TEST_F(QgCommandTest, WorkRunsCommandsAndRecordsFailures) {
  std::string out = TempPath("work-effect");
  unlink(out.c_str());
  QgRun ok_enqueue = RunQg(
      {"enqueue", "--type", "Ok", "--args", R"(["hello"])"}, db_->conninfo());
  ASSERT_EQ(ok_enqueue.exit_code, 0) << ok_enqueue.err;
  ASSERT_EQ(RunQg({"enqueue", "--type", "Bad"}, db_->conninfo()).exit_code, 0);
  std::string wout = TempPath("work-out"), werr = TempPath("work-err");
  pid_t worker =
      Start({"work", "--interval", "0.05", "--workers", "2", "--sessions", "2",
             "--handler", absl::StrCat("Ok=cat > ", out), "--handler",
             "Bad=echo first line >&2; echo the real reason >&2; exit 3"},
            db_->conninfo(), wout, werr);
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline &&
         Query("SELECT count(*) FROM que_jobs WHERE job_class = 'Ok' OR "
               "error_count = 0") != "0") {
    absl::SleepFor(absl::Milliseconds(50));
  }
  kill(worker, SIGINT);
  EXPECT_EQ(Wait(worker), 0) << ReadFile(werr);
  EXPECT_EQ(ReadFile(out), R"(["hello"])");
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE job_class = 'Ok'"), "0");
  EXPECT_EQ(Query("SELECT last_error FROM que_jobs WHERE job_class = 'Bad'"),
            "command exited with status 3: first line\nthe real reason");
  EXPECT_THAT(ReadFile(werr), HasSubstr("stopped"));
  // --sessions 2: the two workers in two lanes.
  EXPECT_THAT(ReadFile(werr), HasSubstr("2 locker sessions"));
}

TEST_F(QgCommandTest, WorkSurvivesHandlersThatExitWithoutReadingStdin) {
  // 200 KB of args fill the pipe; `exit 0` never reads them. Then many small
  // jobs whose handler (`true`) may exit before qg writes their args.
  Query(
      "INSERT INTO que_jobs (job_class, args) VALUES ('Big', "
      "json_build_array(repeat('x', 200000))) RETURNING 1");
  Query(
      "INSERT INTO que_jobs (job_class, args) SELECT 'Small', '[\"a\"]' "
      "FROM generate_series(1, 300) RETURNING 1");
  std::string wout = TempPath("pipe-out"), werr = TempPath("pipe-err");
  pid_t worker = Start({"work", "--interval", "0.05", "--workers", "2",
                        "--handler", "Big=exit 0", "--handler", "Small=true"},
                       db_->conninfo(), wout, werr);
  std::optional<int> died;
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && !died.has_value() &&
         Query("SELECT count(*) FROM que_jobs") != "0") {
    died = WaitAtMost(worker, absl::Milliseconds(50));
  }
  ASSERT_FALSE(died.has_value())
      << "qg work died with status " << *died << ": " << ReadFile(werr);
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
  kill(worker, SIGINT);
  EXPECT_EQ(Wait(worker), 0) << ReadFile(werr);
}

TEST_F(QgCommandTest, WorkRejectsAnIntervalThatWouldSpinAsAUsageError) {
  for (const char* interval : {"0", "-1", "0s"}) {
    std::string out = TempPath("interval-out"), err = TempPath("interval-err");
    pid_t worker =
        Start({"work", "--interval", interval, "--handler", "T=true"},
              db_->conninfo(), out, err);
    std::optional<int> code = WaitAtMost(worker, absl::Seconds(10));
    if (!code.has_value()) KillAndReap(worker);
    ASSERT_TRUE(code.has_value())
        << "qg work --interval " << interval << " kept running";
    EXPECT_EQ(*code, 2) << interval;
    EXPECT_THAT(ReadFile(err), HasSubstr("--interval")) << interval;
  }
}

// A handler that hangs: it records its pid and its background child's, then
// waits for the child.
std::string HungHandler(const std::string& pid_file) {
  return absl::StrCat("Hang=echo $$ >> ", pid_file, "; sleep 300 & echo $! >> ",
                      pid_file, "; wait");
}

TEST_F(QgCommandTest, WorkHandlersStartWithACleanSignalStateInTheirOwnGroup) {
  Query("INSERT INTO que_jobs (job_class) VALUES ('Probe') RETURNING 1");
  std::string out = TempPath("probe");
  // Builtins only, so the shell reads its own state.
  std::string probe = absl::StrCat(
      "Probe=while read -r k v; do case $k in SigBlk:|SigIgn:) echo $k $v;; "
      "esac; done < /proc/$$/status > ",
      out, "; read -r pid comm state ppid pgrp rest < /proc/$$/stat; ",
      "echo pid=$pid pgrp=$pgrp >> ", out);
  std::string wout = TempPath("probe-out"), werr = TempPath("probe-err");
  pid_t worker = Start({"work", "--interval", "0.05", "--handler", probe},
                       db_->conninfo(), wout, werr);
  ASSERT_TRUE(qg_testing::WaitFor(
      [&] { return Query("SELECT count(*) FROM que_jobs") == "0"; },
      absl::Seconds(30)));
  kill(worker, SIGTERM);
  EXPECT_EQ(Wait(worker), 0) << ReadFile(werr);
  std::vector<std::string> lines = absl::StrSplit(ReadFile(out), '\n');
  ASSERT_GE(lines.size(), 3u) << ReadFile(out);
  // Nothing blocked (qg work blocks SIGINT and SIGTERM in itself).
  EXPECT_EQ(lines[0], "SigBlk: 0000000000000000");
  // Signals 1..31 at their defaults (qg work ignores SIGPIPE).
  ASSERT_THAT(lines[1], ::testing::StartsWith("SigIgn: "));
  EXPECT_EQ(std::stoull(lines[1].substr(8), nullptr, 16) & 0x7fffffffULL, 0u)
      << lines[1];
  std::vector<std::string> ids = absl::StrSplit(lines[2], ' ');
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0].substr(4), ids[1].substr(5)) << "not its own group";
}

TEST_F(QgCommandTest,
       WorkReturnsAJobOnceItsHandlerExitsThoughABackgroundChildHoldsStderr) {
  Query("INSERT INTO que_jobs (job_class) VALUES ('Bg') RETURNING 1");
  std::string pid_file = TempPath("bg-pids");
  std::string wout = TempPath("bg-out"), werr = TempPath("bg-err");
  pid_t worker =
      Start({"work", "--interval", "0.05", "--handler",
             absl::StrCat("Bg=sleep 300 & echo $! >> ", pid_file, "; exit 0")},
            db_->conninfo(), wout, werr);
  bool done = qg_testing::WaitFor(
      [&] { return Query("SELECT count(*) FROM que_jobs") == "0"; },
      absl::Seconds(10));
  std::vector<pid_t> pids = WaitForPids(pid_file, 1, absl::Seconds(1));
  EXPECT_TRUE(done) << "the job stayed 'working' while its handler's "
                       "background child held stderr";
  ASSERT_EQ(pids.size(), 1u);
  EXPECT_TRUE(DiesWithin(pids[0], absl::Seconds(5)))
      << "the handler's background child was left running";
  kill(worker, SIGTERM);
  std::optional<int> code = WaitAtMost(worker, absl::Seconds(30));
  if (!code) KillAndReap(worker);
  if (!pids.empty()) kill(pids[0], SIGKILL);
  EXPECT_EQ(code, 0) << ReadFile(werr);
}

TEST_F(QgCommandTest, WorkStopsHungHandlersAfterTheGraceAndReleasesTheirJobs) {
  Query(
      "INSERT INTO que_jobs (job_class, run_at) VALUES ('Hang', "
      "'2020-01-01 00:00:00+00') RETURNING 1");
  std::string pid_file = TempPath("grace-pids");
  std::string wout = TempPath("grace-out"), werr = TempPath("grace-err");
  pid_t worker = Start({"work", "--interval", "0.05", "--grace", "1s",
                        "--handler", HungHandler(pid_file)},
                       db_->conninfo(), wout, werr);
  std::vector<pid_t> pids = WaitForPids(pid_file, 2);
  ASSERT_EQ(pids.size(), 2u) << ReadFile(werr);
  absl::Time signalled = absl::Now();
  kill(worker, SIGTERM);
  std::optional<int> code = WaitAtMost(worker, absl::Seconds(20));
  if (!code) KillAndReap(worker);
  ASSERT_TRUE(code.has_value()) << "qg work did not stop: " << ReadFile(werr);
  EXPECT_EQ(*code, 0) << ReadFile(werr);
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(10));
  for (pid_t p : pids) EXPECT_TRUE(DiesWithin(p, absl::Seconds(5))) << p;
  // Released untouched: not failed, not rescheduled, not locked.
  EXPECT_EQ(Query("SELECT format('%s|%s', error_count, run_at) FROM que_jobs"),
            "0|2020-01-01 00:00:00+00");
  EXPECT_EQ(Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            "0");
}

TEST_F(QgCommandTest,
       WorkSecondSignalStopsAtOnceKillingHandlersAndReleasingJobs) {
  Query(
      "INSERT INTO que_jobs (job_class, run_at) VALUES ('Hang', "
      "'2020-01-01 00:00:00+00') RETURNING 1");
  std::string pid_file = TempPath("force-pids");
  std::string wout = TempPath("force-out"), werr = TempPath("force-err");
  // No --grace: whatever the default, the second signal must not wait for it.
  pid_t worker =
      Start({"work", "--interval", "0.05", "--handler", HungHandler(pid_file)},
            db_->conninfo(), wout, werr);
  std::vector<pid_t> pids = WaitForPids(pid_file, 2);
  ASSERT_EQ(pids.size(), 2u) << ReadFile(werr);
  kill(worker, SIGTERM);
  absl::SleepFor(absl::Milliseconds(300));
  for (pid_t p : pids) EXPECT_TRUE(Alive(p)) << "killed before its grace";
  absl::Time forced = absl::Now();
  kill(worker, SIGINT);
  std::optional<int> code = WaitAtMost(worker, absl::Seconds(15));
  if (!code) KillAndReap(worker);
  for (pid_t p : pids) kill(p, SIGKILL);  // if the binary left them
  ASSERT_TRUE(code.has_value()) << "a second signal did not stop qg work";
  EXPECT_EQ(*code, 128 + SIGINT) << ReadFile(werr);
  EXPECT_LT(absl::Now() - forced, absl::Seconds(5));
  for (pid_t p : pids) EXPECT_TRUE(DiesWithin(p, absl::Seconds(5))) << p;
  EXPECT_EQ(Query("SELECT format('%s|%s', error_count, run_at) FROM que_jobs"),
            "0|2020-01-01 00:00:00+00");
}

TEST_F(QgCommandTest, WorkTimesOutAHungHandlerAndRetriesItsJobWithBackoff) {
  Query("INSERT INTO que_jobs (job_class) VALUES ('Hang') RETURNING 1");
  std::string pid_file = TempPath("timeout-pids");
  std::string wout = TempPath("timeout-out"), werr = TempPath("timeout-err");
  pid_t worker = Start({"work", "--interval", "0.05", "--timeout", "1s",
                        "--handler", HungHandler(pid_file)},
                       db_->conninfo(), wout, werr);
  bool failed = qg_testing::WaitFor(
      [&] {
        return Query("SELECT count(*) FROM que_jobs WHERE error_count = 1") ==
               "1";
      },
      absl::Seconds(20));
  std::vector<pid_t> pids = WaitForPids(pid_file, 2, absl::Seconds(1));
  kill(worker, SIGTERM);
  std::optional<int> code = WaitAtMost(worker, absl::Seconds(30));
  if (!code) KillAndReap(worker);
  for (pid_t p : pids) kill(p, SIGKILL);
  ASSERT_TRUE(failed) << ReadFile(werr);
  EXPECT_THAT(Query("SELECT last_error FROM que_jobs"),
              HasSubstr("job timed out after 1s"));
  EXPECT_EQ(Query("SELECT run_at > now() FROM que_jobs"), "t");
  EXPECT_EQ(code, 0) << ReadFile(werr);
}

TEST_F(QgCommandTest, WorkHelpExplainsStoppingAndExitCodes) {
  QgRun r = RunQg({"work", "--help"}, "");
  EXPECT_THAT(r.out, HasSubstr("SIGTERM"));
  EXPECT_THAT(r.out, HasSubstr("Ctrl-C"));
  EXPECT_THAT(r.out, HasSubstr("--grace"));
  EXPECT_THAT(r.out, HasSubstr("Exit status: 0"));
  EXPECT_THAT(r.out, HasSubstr("130 or 143"));
}

TEST_F(QgCommandTest, WorkUntilEmptyExitsOnceNoRunnableJobRemains) {
  Query(
      "INSERT INTO que_jobs (job_class) SELECT 'Ok' FROM generate_series(1, "
      "30) RETURNING 1");
  Query(
      "INSERT INTO que_jobs (job_class, run_at) VALUES ('Bad', now()), "
      "('Later', now() + interval '1 hour'), ('Elsewhere', now()) "
      "RETURNING 1");
  Query(
      "UPDATE que_jobs SET queue = 'other' WHERE job_class = 'Elsewhere' "
      "RETURNING 1");
  std::string wout = TempPath("empty-out"), werr = TempPath("empty-err");
  pid_t worker =
      Start({"work", "--until-empty", "--interval", "0.05", "--handler",
             "Ok=true", "--handler", "Bad=exit 1", "--handler", "Later=true"},
            db_->conninfo(), wout, werr);
  std::optional<int> code = WaitAtMost(worker, absl::Seconds(30));
  if (!code) KillAndReap(worker);
  ASSERT_TRUE(code.has_value())
      << "qg work --until-empty kept running: " << ReadFile(werr);
  EXPECT_EQ(*code, 0) << ReadFile(werr);
  // Done: the runnable jobs; left: the failed one (waiting for its retry),
  // the scheduled one and another queue's.
  EXPECT_EQ(Query("SELECT string_agg(format('%s:%s', job_class, error_count), "
                  "' ' ORDER BY job_class) FROM que_jobs"),
            "Bad:1 Elsewhere:0 Later:0");
  EXPECT_THAT(ReadFile(werr), HasSubstr("--until-empty"));
}

TEST_F(QgCommandTest, WorkDurationStopsAfterIt) {
  std::string wout = TempPath("dur-out"), werr = TempPath("dur-err");
  absl::Time start = absl::Now();
  pid_t worker = Start({"work", "--duration", "1s", "--handler", "T=true"},
                       db_->conninfo(), wout, werr);
  std::optional<int> code = WaitAtMost(worker, absl::Seconds(20));
  if (!code) KillAndReap(worker);
  ASSERT_TRUE(code.has_value()) << ReadFile(werr);
  EXPECT_EQ(*code, 0) << ReadFile(werr);
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_THAT(ReadFile(werr), HasSubstr("--duration"));
}

TEST_F(QgCommandTest, StatsAndWorkSayWhichWorkerPathIsInEffect) {
  QgRun fast = RunQg({"stats"}, db_->conninfo());
  ASSERT_EQ(fast.exit_code, 0) << fast.err;
  EXPECT_THAT(fast.out, HasSubstr("worker path: fast"));
  QgRun work = RunQg({"work", "--duration", "0.2s", "--handler", "T=true"},
                     db_->conninfo());
  EXPECT_EQ(work.exit_code, 0) << work.err;
  EXPECT_THAT(work.err, HasSubstr("worker path: fast"));

  Query("DROP FUNCTION qg_lock_jobs");
  QgRun compat = RunQg({"stats"}, db_->conninfo());
  EXPECT_THAT(compat.out, HasSubstr("worker path: qg-compatible"));
  EXPECT_THAT(compat.out, HasSubstr("qg migrate"));
  QgRun compat_work = RunQg(
      {"work", "--duration", "0.2s", "--handler", "T=true"}, db_->conninfo());
  EXPECT_EQ(compat_work.exit_code, 0) << compat_work.err;
  EXPECT_THAT(compat_work.err, HasSubstr("worker path: qg-compatible"));
  // Information, not a logged warning or error.
  EXPECT_THAT(compat_work.err,
              Not(::testing::ContainsRegex("(^|\\n)[WE][0-9]{4}")));
}

TEST_F(QgCommandTest, WorkNeedsAHandler) {
  QgRun r = RunQg({"work"}, db_->conninfo());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--handler"));
}

TEST_F(QgCommandTest, DemoRunsToCompletionOnAGivenDatabase) {
  // Someone else's job on the same database is left alone.
  Query("INSERT INTO que_jobs (job_class) VALUES ('Foreign') RETURNING 1");
  QgRun r = RunQg({"demo", "--jobs", "200", "--workers", "2"}, db_->conninfo());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("completed                           190 of 190"));
  EXPECT_THAT(r.out, HasSubstr("ran twice                           0"));
  // The drain rate of the 180 jobs runnable at once, apart from the 2 s
  // wait for the scheduled ones.
  EXPECT_THAT(r.out, ::testing::ContainsRegex(
                         "drained 180 runnable jobs in [0-9.]+ s \\([0-9,]+ "
                         "jobs/s\\); then waited [0-9.]+ s for the 10 "
                         "scheduled"));
  EXPECT_EQ(Query("SELECT format('%s|%s', count(*), max(error_count)) FROM "
                  "que_jobs WHERE job_class = 'Foreign'"),
            "1|0");
  // The periodic job ran once per occurrence, at least once; the unique job
  // was stored once and its second enqueue was a duplicate.
  EXPECT_THAT(r.out, ::testing::ContainsRegex(
                         "periodic DemoHeartbeat @every 1s    [1-9][0-9]* "
                         "job\\(s\\), one per occurrence\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex(
                         "unique job enqueued twice           job [0-9]+, "
                         "then a duplicate of job [0-9]+\n"));
  // Cleaned up: no job of the demo, no schedule record left.
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs WHERE queue = 'qg-demo'"),
            "0");
  EXPECT_EQ(Query("SELECT count(*) FROM qg_periodic"), "0");
}

TEST_F(QgCommandTest, DemoWithoutTheAdditionsSkipsPeriodicAndUniqueJobs) {
  Query("DROP TABLE qg_periodic");
  QgRun r = RunQg({"demo", "--jobs", "20", "--workers", "2"}, db_->conninfo());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("completed                           19 of 19"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex(
                         "periodic DemoHeartbeat @every 1s +skipped \\(needs "
                         "`qg migrate`\\)"));
}

// ---- Pause and resume

TEST_F(QgCommandTest, PauseAndResumeAQueueAndStatsShowsItEvenWhenEmpty) {
  Query("INSERT INTO que_jobs (job_class, queue) VALUES ('A', 'mail')");
  QgRun paused = RunQg({"pause", "mail"}, db_->conninfo());
  ASSERT_EQ(paused.exit_code, 0) << paused.err;
  EXPECT_THAT(paused.out, HasSubstr("queue \"mail\" paused"));
  EXPECT_THAT(paused.out, HasSubstr("Ruby Que, que-go and qg workers"));
  QgRun idle = RunQg({"pause", "idle", "--db", db_->conninfo()}, "");
  ASSERT_EQ(idle.exit_code, 0) << idle.err;
  QgRun again = RunQg({"pause", "idle"}, db_->conninfo());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("(it was paused already)"));
  EXPECT_EQ(Query("SELECT string_agg(queue || ':' || paused, ' ' ORDER BY "
                  "queue) FROM qg_queues"),
            "idle:true mail:true");

  QgRun table = RunQg({"stats"}, db_->conninfo());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("mail (paused)  A"));
  EXPECT_THAT(table.out, HasSubstr("paused queues: idle, mail"));
  QgRun json = RunQg({"stats", "--json"}, db_->conninfo());
  ASSERT_EQ(json.exit_code, 0) << json.err;
  // The existing fields, then the new one.
  EXPECT_THAT(json.out, HasSubstr(R"({"queue":"mail","type":"A","count":1,)"));
  EXPECT_THAT(json.out, HasSubstr(R"(,"paused":true})"));

  QgRun resumed = RunQg({"resume", "mail"}, db_->conninfo());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.out, HasSubstr("queue \"mail\" resumed"));
  QgRun not_paused = RunQg({"resume", "mail"}, db_->conninfo());
  EXPECT_EQ(not_paused.exit_code, 0);
  EXPECT_THAT(not_paused.out, HasSubstr("(it was not paused)"));
  ASSERT_EQ(RunQg({"resume", "idle"}, db_->conninfo()).exit_code, 0);
  QgRun none = RunQg({"stats"}, db_->conninfo());
  EXPECT_THAT(none.out, HasSubstr("paused queues: none"));
  EXPECT_THAT(none.out, Not(HasSubstr("(paused)")));
  EXPECT_THAT(RunQg({"stats", "--json"}, db_->conninfo()).out,
              HasSubstr(R"(,"paused":false})"));
}

TEST_F(QgCommandTest, PauseAndResumeRejectAMissingOrEmptyNameAndChangeNothing) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"pause", ""}, "queue name is required"},
           {{"resume", ""}, "queue name is required"},
           {{"pause"}, "expected a queue name"},
           {{"resume"}, "expected a queue name"},
           {{"pause", "a", "b"}, "unexpected argument \"b\""},
           {{"pause", "--bogus", "a"}, "unknown flag --bogus"},
       }) {
    QgRun r = RunQg(c.args, db_->conninfo());
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << " " << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_THAT(r.err, HasSubstr("Usage: qg " + c.args[0]));
  }
  EXPECT_EQ(RunQg({"pause", "q"}, "").exit_code, 2);  // no database
  EXPECT_EQ(Query("SELECT count(*) FROM qg_queues"), "0");
}

TEST_F(QgCommandTest, PauseNeedsTheAdditionsButStatsDoesNot) {
  Query("DROP TABLE qg_queues CASCADE");
  QgRun pause = RunQg({"pause", "q"}, db_->conninfo());
  EXPECT_EQ(pause.exit_code, 1);
  EXPECT_THAT(pause.err, HasSubstr("qg migrate"));
  QgRun stats = RunQg({"stats"}, db_->conninfo());
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_THAT(stats.out, HasSubstr("paused queues: none"));
}

// ---- Cancel

TEST_F(QgCommandTest, CancelKeepsAJobNobodyHoldsAsCancelledAndRetryRevivesIt) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count) VALUES "
      "(301, 'Report', now() + interval '1 hour', 1)");
  QgRun r = RunQg({"cancel", "301"}, db_->conninfo());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("job 301 cancelled"));
  EXPECT_THAT(r.out, HasSubstr("qg retry 301"));
  EXPECT_EQ(Query("SELECT format('%s|%s|%s', run_at >= '9999-01-01', "
                  "error_count, last_error LIKE 'qg: cancelled%') FROM "
                  "que_jobs"),
            "t|1|t");
  // Listed with the dead jobs, as cancelled.
  QgRun dead = RunQg({"jobs", "--dead"}, db_->conninfo());
  ASSERT_EQ(dead.exit_code, 0) << dead.err;
  EXPECT_THAT(dead.out, ::testing::ContainsRegex("301 .*Report .*cancelled"));
  EXPECT_THAT(RunQg({"jobs", "--dead", "--json"}, db_->conninfo()).out,
              HasSubstr(R"("state":"cancelled")"));
  EXPECT_THAT(RunQg({"jobs", "301"}, db_->conninfo()).out,
              HasSubstr("state:       cancelled"));
  ASSERT_EQ(RunQg({"retry", "301"}, db_->conninfo()).exit_code, 0);
  EXPECT_EQ(Query("SELECT run_at <= now() FROM que_jobs"), "t");
}

TEST_F(QgCommandTest, CancelRejectsBadInputAndChangesNothing) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at) VALUES (302, 'A', "
      "'2030-01-01 00:00:00+00')");
  QgRun unknown = RunQg({"cancel", "999"}, db_->conninfo());
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("no job with ID 999"));
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"cancel", "abc"}, "\"abc\" is not a job ID"},
           {{"cancel", "-5"}, "is not a job ID"},
           {{"cancel", "0"}, "is not a job ID"},
           {{"cancel"}, "expected exactly one job ID"},
           {{"cancel", "302", "303"}, "expected exactly one job ID"},
           {{"cancel", "302", "--wait", "0"}, "--wait must be positive"},
           {{"cancel", "302", "--wait", "soon"}, "--wait"},
       }) {
    QgRun r = RunQg(c.args, db_->conninfo());
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
  EXPECT_EQ(Query("SELECT format('%s|%s', run_at, last_error) FROM que_jobs"),
            "2030-01-01 00:00:00+00|");
  EXPECT_EQ(Query("SELECT count(*) FROM qg_cancellations"), "0");
}

TEST_F(QgCommandTest, CancelOfAJobARubyOrGoWorkerHoldsFailsAndChangesNothing) {
  Query("INSERT INTO que_jobs (job_id, job_class) VALUES (303, 'Ruby')");
  // A Ruby Que or que-go worker runs it: it takes no cancel requests.
  qg::PgConnPtr ruby = HoldJobLock(303);
  QgRun r = RunQg({"cancel", "303", "--wait", "0.3s"}, db_->conninfo());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot be cancelled while it runs"));
  EXPECT_EQ(Query("SELECT format('%s|%s', run_at < '9999-01-01', "
                  "last_error IS NULL) FROM que_jobs"),
            "t|t");
  EXPECT_EQ(Query("SELECT count(*) FROM qg_cancellations"), "0");
  EXPECT_THAT(RunQg({"jobs"}, db_->conninfo()).out,
              ::testing::ContainsRegex("303 .* working"));
}

TEST_F(QgCommandTest, CancelStopsAJobRunningInQgWorkAndItIsNeverRetried) {
  Query("INSERT INTO que_jobs (job_id, job_class) VALUES (304, 'Hang')");
  std::string pid_file = TempPath("cancel-pids");
  std::string wout = TempPath("cancel-out"), werr = TempPath("cancel-err");
  pid_t worker =
      Start({"work", "--interval", "0.05", "--handler", HungHandler(pid_file)},
            db_->conninfo(), wout, werr);
  std::vector<pid_t> pids = WaitForPids(pid_file, 2);
  ASSERT_EQ(pids.size(), 2u) << ReadFile(werr);
  QgRun r = RunQg({"cancel", "304"}, db_->conninfo());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("asked its worker to stop it"));
  bool cancelled = qg_testing::WaitFor(
      [&] {
        return Query(
                   "SELECT run_at >= '9999-01-01' AND last_error LIKE "
                   "'qg: cancelled%' FROM que_jobs") == "t";
      },
      absl::Seconds(20));
  for (pid_t p : pids) EXPECT_TRUE(DiesWithin(p, absl::Seconds(10))) << p;
  kill(worker, SIGTERM);
  std::optional<int> code = WaitAtMost(worker, absl::Seconds(30));
  if (!code) KillAndReap(worker);
  for (pid_t p : pids) kill(p, SIGKILL);
  ASSERT_TRUE(cancelled) << Query("SELECT last_error FROM que_jobs") << "\n"
                         << ReadFile(werr);
  EXPECT_EQ(Query("SELECT error_count FROM que_jobs"), "0");
  EXPECT_EQ(code, 0) << ReadFile(werr);
  EXPECT_THAT(RunQg({"jobs", "--dead"}, db_->conninfo()).out,
              HasSubstr("cancelled"));
}

// Regression (issue 17, defect 3): `qg retry --all-dead` revived the jobs an
// operator cancelled along with the ones that died, and ran them at once;
// `qg cancel` of a dead job overwrote the error it died of.
TEST_F(QgCommandTest, RetryAllDeadLeavesCancelledJobsAndSaysSo) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count, "
      "last_error) VALUES "
      "(311, 'Charge', '9999-01-01 00:00:00+00', 5, "
      "'qg: dead after 5 attempts: card declined'), "
      "(312, 'Report', now() + interval '1 hour', 0, NULL) RETURNING 1");
  ASSERT_EQ(RunQg({"cancel", "312"}, db_->conninfo()).exit_code, 0);
  // Cancelling the dead job keeps the error it died of.
  ASSERT_EQ(RunQg({"cancel", "311"}, db_->conninfo()).exit_code, 0);
  EXPECT_EQ(Query("SELECT format('%s|%s', last_error LIKE 'qg: cancelled%', "
                  "strpos(last_error, 'card declined') > 0) FROM que_jobs "
                  "WHERE job_id = 311"),
            "t|t");
  Query(
      "UPDATE que_jobs SET last_error = 'qg: dead after 5 attempts: card "
      "declined' WHERE job_id = 311 RETURNING 1");
  QgRun all = RunQg({"retry", "--all-dead"}, db_->conninfo());
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr("1 job(s) will run now"));
  EXPECT_THAT(all.out, HasSubstr("1 cancelled job(s) left alone"));
  EXPECT_EQ(Query("SELECT string_agg(format('%s:%s', job_id, run_at <= "
                  "now()), ' ' ORDER BY job_id) FROM que_jobs"),
            "311:t 312:f");
  QgRun errored = RunQg({"retry", "--all-errored"}, db_->conninfo());
  ASSERT_EQ(errored.exit_code, 0) << errored.err;
  EXPECT_EQ(Query("SELECT run_at <= now() FROM que_jobs WHERE job_id = 312"),
            "f");
  // By id it is revived, and the operator is told it had been cancelled.
  QgRun one = RunQg({"retry", "312"}, db_->conninfo());
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_THAT(one.out, HasSubstr("job 312 was cancelled by an operator"));
  EXPECT_EQ(Query("SELECT run_at <= now() FROM que_jobs WHERE job_id = 312"),
            "t");
}

// Starts `qg cancel ID --wait 60s` on a job a foreign worker holds and
// returns once its request is in qg_cancellations (-1 if it never is).
pid_t StartWaitingCancel(PGconn* conn, const std::string& db, int64_t id,
                         const std::string& out, const std::string& err) {
  pid_t cancel =
      Start({"cancel", absl::StrCat(id), "--wait", "60s"}, db, out, err);
  bool asked = qg_testing::WaitFor(
      [&] {
        return qg_testing::QueryValue(
                   conn, "SELECT count(*) FROM qg_cancellations") == "1";
      },
      absl::Seconds(20));
  if (!asked) {
    KillAndReap(cancel);
    return -1;
  }
  return cancel;
}

// Regression (issue 17, defect 4): `qg cancel ID --wait ...` killed by
// SIGTERM (e.g. by `timeout`) while a foreign worker held the job left its
// request in qg_cancellations: the operator was told nothing, and the next
// qg-compatible pool to run the job cancelled it. SIGTERM, SIGINT and SIGHUP
// now withdraw the request and say so.
TEST_F(QgCommandTest, CancelInterruptedBySignalWithdrawsItsRequest) {
  Query("INSERT INTO que_jobs (job_id, job_class) VALUES (321, 'Ruby')");
  qg::PgConnPtr ruby = HoldJobLock(321);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    std::string out = TempPath("sig-cancel-out"), err = TempPath("sig-err");
    pid_t cancel =
        StartWaitingCancel(conn_.get(), db_->conninfo(), 321, out, err);
    ASSERT_GT(cancel, 0) << ReadFile(err);
    kill(cancel, sig);
    std::optional<int> code = WaitAtMost(cancel, absl::Seconds(20));
    if (!code) KillAndReap(cancel);
    ASSERT_TRUE(code.has_value()) << sig;
    EXPECT_EQ(*code, 128 + sig) << ReadFile(err);
    EXPECT_THAT(ReadFile(err), HasSubstr("job 321 was not cancelled"));
    EXPECT_EQ(Query("SELECT count(*) FROM qg_cancellations"), "0") << sig;
  }
  EXPECT_EQ(Query("SELECT format('%s|%s', run_at < '9999-01-01', "
                  "last_error IS NULL) FROM que_jobs"),
            "t|t");
}

// Regression (issue 17, defect 4): a request whose requester died (SIGKILL
// cannot be caught) must not cancel a later run of the job: here the
// foreign worker's run ends (the job fails and is retried), and a
// qg-compatible `qg work` (which polls for requests it may have missed)
// runs the job to completion.
TEST_F(QgCommandTest, LeftOverCancelRequestDoesNotCancelALaterRun) {
  Query("DROP FUNCTION qg_lock_jobs");  // qg work takes the qg-compatible path
  Query("INSERT INTO que_jobs (job_id, job_class) VALUES (322, 'Slow')");
  qg::PgConnPtr ruby = HoldJobLock(322);
  std::string out = TempPath("kill-cancel-out"), err = TempPath("kill-err");
  pid_t cancel =
      StartWaitingCancel(conn_.get(), db_->conninfo(), 322, out, err);
  ASSERT_GT(cancel, 0) << ReadFile(err);
  kill(cancel, SIGKILL);
  EXPECT_EQ(Wait(cancel), 128 + SIGKILL);
  // The foreign worker's run fails; the job is due again.
  Query(
      "UPDATE que_jobs SET error_count = 1, last_error = 'flaky', run_at = "
      "now() WHERE job_id = 322 RETURNING 1");
  ruby.reset();
  std::string done = TempPath("slow-done");
  std::string wout = TempPath("later-out"), werr = TempPath("later-err");
  // Long enough for the pool's listener to poll for requests twice.
  pid_t worker =
      Start({"work", "--until-empty", "--interval", "0.05", "--handler",
             absl::StrCat("Slow=sleep 3; echo ran > ", done)},
            db_->conninfo(), wout, werr);
  std::optional<int> code = WaitAtMost(worker, absl::Seconds(60));
  if (!code) KillAndReap(worker);
  ASSERT_TRUE(code.has_value()) << ReadFile(werr);
  EXPECT_EQ(*code, 0) << ReadFile(werr);
  EXPECT_EQ(ReadFile(done), "ran\n") << ReadFile(werr);
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0")
      << Query("SELECT last_error FROM que_jobs");
}

// Regression (issue 17, defect 10): `qg work --until-empty` on a paused
// queue never exited and never said the queue was paused. It says so at
// start, and ends with its own exit status (3) once nothing runs and what
// is left cannot run because of the pause; an empty paused queue is empty
// (exit 0).
TEST_F(QgCommandTest, WorkUntilEmptyOnAPausedQueueSaysSoAndEnds) {
  ASSERT_EQ(RunQg({"pause", "held"}, db_->conninfo()).exit_code, 0);
  Query(
      "INSERT INTO que_jobs (job_class, queue) SELECT 'T', 'held' FROM "
      "generate_series(1, 3) RETURNING 1");
  std::string wout = TempPath("paused-out"), werr = TempPath("paused-err");
  pid_t worker = Start({"work", "--queue", "held", "--until-empty",
                        "--interval", "0.05", "--handler", "T=true"},
                       db_->conninfo(), wout, werr);
  std::optional<int> code = WaitAtMost(worker, absl::Seconds(30));
  if (!code) KillAndReap(worker);
  ASSERT_TRUE(code.has_value())
      << "qg work --until-empty kept running: " << ReadFile(werr);
  EXPECT_EQ(*code, 3) << ReadFile(werr);
  std::string err = ReadFile(werr);
  EXPECT_THAT(err, HasSubstr("queue \"held\" is paused"));
  EXPECT_THAT(err, HasSubstr("qg resume held"));
  EXPECT_THAT(err, HasSubstr("--until-empty"));
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "3");  // untouched

  // Nothing runnable left: empty, paused or not.
  Query("DELETE FROM que_jobs RETURNING 1");
  QgRun empty = RunQg({"work", "--queue", "held", "--until-empty", "--interval",
                       "0.05", "--handler", "T=true"},
                      db_->conninfo());
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_THAT(empty.err, HasSubstr("is paused"));
  EXPECT_THAT(RunQg({"work", "--help"}, "").out, HasSubstr("3 --until-empty"));
}

// Regression (issue 17, defect 9 and the CLI side of defect 2): `qg`
// aborted (exit 134) on some bad input (`--args-file` naming a directory,
// `qg work --workers 100000`), sent other bad input to PostgreSQL (exit 1,
// a raw SQL error), or took it (`--in inf`, a run_at past 9999, NaN
// durations, a token file that never ends). Every such input of every
// command is a usage mistake now: exit 2, a message naming the flag, and
// nothing changed.
TEST_F(QgCommandTest, HostileInputToEveryCommandIsAUsageError) {
  std::string dir = ::testing::TempDir();
  std::string empty = TempPath("empty-args");
  std::ofstream(empty) << "";
  const std::string bad = "\xff\xfe";  // not UTF-8
  struct Case {
    std::vector<std::string> args;
    std::string message;
    std::string stdin_path = "";
  };
  const std::vector<Case> cases = {
      {{"enqueue", "--type", "T", "--args-file", dir}, "is a directory"},
      {{"enqueue", "--type", "T", "--args", "-"}, "is a directory", dir},
      {{"enqueue", "--type", "T", "--args-file", empty}, "no JSON"},
      {{"enqueue", "--type", "T", "--args", ""}, "no JSON"},
      {{"enqueue", "--type", bad}, "--type: not valid UTF-8"},
      {{"enqueue", "--type", "T", "--queue", bad}, "--queue: not valid UTF-8"},
      {{"enqueue", "--type", "T", "--unique-key", bad},
       "--unique-key: not valid UTF-8"},
      {{"enqueue", "--type", "T", "--run-at", "-0001-01-01T00:00:00Z"},
       "--run-at"},
      {{"enqueue", "--type", "T", "--run-at", "10000-01-01T00:00:00Z"},
       "--run-at"},
      {{"enqueue", "--type", "T", "--run-at", "9999-06-01T00:00:00Z"}, "dead"},
      {{"enqueue", "--type", "T", "--in", "inf"}, "--in"},
      {{"enqueue", "--type", "T", "--in", "nan"}, "--in"},
      {{"enqueue", "--type", "T", "--in", "99999999h"}, "--in"},
      {{"enqueue", "--type", "T", "--unique-period", "inf"}, "--unique-period"},
      {{"enqueue", "--type", "T", "--unique-period", "nan"}, "--unique-period"},
      {{"enqueue", "--type", "T", "--unique-period", "1e300"},
       "--unique-period"},
      {{"enqueue", "--type", "T", "--priority", "99999999999"}, "--priority"},
      {{"work", "--workers", "100000", "--handler", "T=true"}, "--workers"},
      {{"work", "--workers", "2147483647", "--handler", "T=true"}, "--workers"},
      {{"work", "--sessions", "65", "--handler", "T=true"}, "--sessions"},
      {{"work", "--sessions", "-1", "--handler", "T=true"}, "--sessions"},
      {{"work", "--handler", "T=true", "--duration", "inf"}, "--duration"},
      {{"work", "--handler", "T=true", "--duration", "nan"}, "--duration"},
      {{"work", "--handler", "T=true", "--interval", "nan"}, "--interval"},
      {{"work", "--handler", "T=true", "--interval", "1ns"}, "--interval"},
      {{"work", "--handler", "T=true", "--grace", "nan"}, "--grace"},
      {{"work", "--handler", "T=true", "--timeout", "1e300"}, "--timeout"},
      {{"work", "--handler", "T=true", "--queue", bad},
       "--queue: not valid UTF-8"},
      {{"work", "--handler", bad + "=true"}, "--handler: not valid UTF-8"},
      {{"retry", " 5"}, "is not a job ID"},
      {{"retry", "+5"}, "is not a job ID"},
      {{"retry", "--all-dead", "--queue", bad}, "--queue: not valid UTF-8"},
      {{"delete", "--all-dead", "--type", bad}, "--type: not valid UTF-8"},
      {{"jobs", "--queue", bad}, "--queue: not valid UTF-8"},
      {{"jobs", "--type", bad}, "--type: not valid UTF-8"},
      {{"jobs", "--error-contains", bad}, "--error-contains: not valid UTF-8"},
      {{"cancel", "5", "--wait", "nan"}, "--wait"},
      {{"cancel", "5", "--wait", "inf"}, "--wait"},
      {{"pause", bad}, "queue name: not valid UTF-8"},
      {{"resume", bad}, "queue name: not valid UTF-8"},
      {{"periodic", "--remove", bad}, "--remove: not valid UTF-8"},
      {{"demo", "--workers", "100000"}, "--workers"},
      {{"demo", "--jobs", "2000000000"}, "--jobs"},
      {{"demo", "--listen", "nonsense"}, "--listen"},
      {{"console", "--token-file", dir}, "is a directory"},
      {{"console", "--token-file", "/dev/zero"}, "larger than"},
      {{"console", "--refresh", "nan"}, "--refresh"},
      {{"console", "--refresh", "inf"}, "--refresh"},
  };
  for (const Case& c : cases) {
    std::string what = absl::StrJoin(c.args, " ");
    std::string out = TempPath("hostile-out"), err = TempPath("hostile-err");
    pid_t qg = Start(c.args, db_->conninfo(), out, err, c.stdin_path);
    std::optional<int> code = WaitAtMost(qg, absl::Seconds(30));
    if (!code) KillAndReap(qg);
    ASSERT_TRUE(code.has_value()) << what << ": kept running";
    EXPECT_EQ(*code, 2) << what << ": " << ReadFile(err);
    EXPECT_THAT(ReadFile(err), HasSubstr(c.message)) << what;
  }
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
  EXPECT_EQ(Query("SELECT count(*) FROM qg_queues"), "0");
}

// ---- Periodic schedules

TEST_F(QgCommandTest, PeriodicListsSchedulesAndRemovesOne) {
  QgRun empty = RunQg({"periodic"}, db_->conninfo());
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_THAT(empty.out, HasSubstr("(no periodic schedules)"));
  EXPECT_EQ(RunQg({"periodic", "--json"}, db_->conninfo()).out, "[]\n");
  // As enqueuers record them: one seen just now, one long gone.
  Query(
      "INSERT INTO qg_periodic (name, schedule, time_zone, last_occurrence, "
      "last_job_id, seen_at) VALUES "
      "('nightly', '30 2 * * *', 'Europe/Berlin', '2026-11-28 01:30:00+00', "
      "42, now()), "
      "('old', '@every 30s', 'UTC', '2020-01-01 00:00:00+00', NULL, "
      "now() - interval '1 day')");
  QgRun table = RunQg({"periodic"}, db_->conninfo());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out,
              HasSubstr("NAME     SCHEDULE                    LAST_OCCURRENCE  "
                        "            NEXT_OCCURRENCE              REGISTERED  "
                        "LAST_JOB"));
  EXPECT_THAT(table.out,
              ::testing::ContainsRegex(
                  "nightly  30 2 \\* \\* \\* \\(Europe/Berlin\\)  "
                  "2026-11-28T01:30:00.000000Z  20[0-9-]+T01:30:00.000000Z  "
                  "yes         42"));
  EXPECT_THAT(table.out,
              ::testing::ContainsRegex("old      @every 30s  +2020-01-01T00:00:"
                                       "00.000000Z  20[0-9T:.-]+Z  no  +-"));
  QgRun json = RunQg({"periodic", "--json"}, db_->conninfo());
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out,
              HasSubstr(R"({"name":"nightly","schedule":"30 2 * * *",)"
                        R"("time_zone":"Europe/Berlin",)"
                        R"("last_occurrence":"2026-11-28T01:30:00.000000Z",)"
                        R"("next_occurrence":")"));
  EXPECT_THAT(json.out,
              ::testing::ContainsRegex(R"("registered":true,"seen_at":"[^"]+",)"
                                       R"("last_job_id":42\})"));
  EXPECT_THAT(json.out, HasSubstr(R"("registered":false)"));
  EXPECT_THAT(json.out, HasSubstr(R"("last_job_id":null})"));

  QgRun removed = RunQg({"periodic", "--remove", "old"}, db_->conninfo());
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_THAT(removed.out, HasSubstr("removed the record of periodic "
                                     "schedule \"old\""));
  EXPECT_EQ(Query("SELECT string_agg(name, ' ') FROM qg_periodic"), "nightly");
  QgRun unknown = RunQg({"periodic", "--remove", "old"}, db_->conninfo());
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("no periodic schedule named \"old\""));
}

TEST_F(QgCommandTest, PeriodicRejectsBadInputAndChangesNothing) {
  Query(
      "INSERT INTO qg_periodic (name, schedule, time_zone, last_occurrence) "
      "VALUES ('keep', '@every 1m', 'UTC', now())");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"periodic", "--remove", ""}, "--remove needs a schedule's name"},
           {{"periodic", "--remove"}, "--remove needs a value"},
           {{"periodic", "--remove", "keep", "--json"}, "--json goes with"},
           {{"periodic", "keep"}, "unexpected argument \"keep\""},
       }) {
    QgRun r = RunQg(c.args, db_->conninfo());
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
  EXPECT_EQ(Query("SELECT string_agg(name, ' ') FROM qg_periodic"), "keep");
  Query("DROP TABLE qg_periodic");
  QgRun missing = RunQg({"periodic"}, db_->conninfo());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("qg migrate"));
}

// ---- Unique enqueue

// The id `qg enqueue` printed.
std::string IdOf(const QgRun& r) { return r.out.substr(0, r.out.find('\n')); }

TEST_F(QgCommandTest, EnqueueWithAUniqueKeyTwiceStoresOneJobAndSaysDuplicate) {
  QgRun first =
      RunQg({"enqueue", "--type", "T", "--unique-key", "k1"}, db_->conninfo());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.out, MatchesRegex("[0-9]+\n"));
  EXPECT_EQ(first.err, "");
  // Another type, same explicit key: a duplicate (explicit keys are global).
  QgRun second = RunQg({"enqueue", "--type", "Other", "--unique-key", "k1"},
                       db_->conninfo());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, first.out);  // the id alone, for scripts
  EXPECT_THAT(second.err, HasSubstr(absl::StrCat(
                              IdOf(first), " (duplicate: an existing job")));
  EXPECT_EQ(Query("SELECT format('%s|%s', count(*), max(qg_unique_key)) FROM "
                  "que_jobs"),
            "1|k1");
}

TEST_F(QgCommandTest, EnqueueDerivesUniqueKeysFromArgsQueueAndPeriod) {
  auto enqueue = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "enqueue");
    QgRun r = RunQg(args, db_->conninfo());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r;
  };
  // By args: whitespace does not matter, other args do.
  QgRun a = enqueue({"--type", "R", "--args", "[1, 2]", "--unique-by-args"});
  QgRun a2 = enqueue({"--type", "R", "--args", "[1,2]", "--unique-by-args"});
  QgRun a3 = enqueue({"--type", "R", "--args", "[3]", "--unique-by-args"});
  EXPECT_EQ(IdOf(a2), IdOf(a));
  EXPECT_THAT(a2.err, HasSubstr("duplicate"));
  EXPECT_NE(IdOf(a3), IdOf(a));
  EXPECT_EQ(a3.err, "");
  // By queue: another queue is another key.
  QgRun q = enqueue({"--type", "Q", "--queue", "x", "--unique-by-queue"});
  QgRun q2 = enqueue({"--type", "Q", "--queue", "y", "--unique-by-queue"});
  QgRun q3 = enqueue({"--type", "Q", "--queue", "x", "--unique-by-queue"});
  EXPECT_NE(IdOf(q2), IdOf(q));
  EXPECT_EQ(IdOf(q3), IdOf(q));
  // By period: one job per hour of run_at.
  QgRun p = enqueue({"--type", "P", "--unique-period", "1h", "--run-at",
                     "2030-01-01T00:10:00Z"});
  QgRun p2 = enqueue({"--type", "P", "--unique-period", "1h", "--run-at",
                      "2030-01-01T00:50:00Z"});
  QgRun p3 = enqueue({"--type", "P", "--unique-period", "1h", "--run-at",
                      "2030-01-01T01:10:00Z"});
  EXPECT_EQ(IdOf(p2), IdOf(p));
  EXPECT_NE(IdOf(p3), IdOf(p));
  EXPECT_EQ(Query("SELECT string_agg(job_class || ':' || n, ' ' ORDER BY "
                  "job_class) FROM (SELECT job_class, count(*) AS n FROM "
                  "que_jobs GROUP BY job_class) c"),
            "P:2 Q:2 R:2");
}

TEST_F(QgCommandTest, EnqueueRejectsBadUniqueOptionsAndStoresNothing) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--unique-key", ""}, "--unique-key needs a key"},
           {{"--unique-key", "k", "--unique-by-args"}, "unique"},
           {{"--unique-period", "-1h"}, "--unique-period must be a positive"},
           {{"--unique-period", "0"}, "--unique-period must be a positive"},
           {{"--unique-period", "soon"}, "--unique-period"},
       }) {
    std::vector<std::string> args = {"enqueue", "--type", "T"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    QgRun r = RunQg(args, db_->conninfo());
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
  EXPECT_EQ(Query("SELECT count(*) FROM que_jobs"), "0");
}

// ---- Job states in listings

TEST_F(QgCommandTest, JobsTableShowsEachJobsState) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at, error_count, "
      "last_error) VALUES "
      "(401, 'Ready', now() - interval '1 minute', 0, NULL), "
      "(402, 'Later', now() + interval '1 hour', 0, NULL), "
      "(403, 'Failed', now() + interval '1 minute', 2, 'boom'), "
      "(404, 'OutOfAttempts', '9999-01-01 00:00:00+00', 5, "
      "'qg: dead after 5 attempts: boom'), "
      "(405, 'Stopped', '9999-01-01 00:00:00+00', 0, "
      "'qg: cancelled: by an operator'), "
      "(406, 'Busy', now() - interval '1 minute', 0, NULL)");
  qg::PgConnPtr worker = HoldJobLock(406);
  QgRun table = RunQg({"jobs"}, db_->conninfo());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("ERRORS  STATE"));
  for (const auto& [type, state] :
       std::vector<std::pair<std::string, std::string>>{
           {"Ready", "ready"},
           {"Later", "scheduled"},
           {"Failed", "errored"},
           {"OutOfAttempts", "dead"},
           {"Stopped", "cancelled"},
           {"Busy", "working"}}) {
    EXPECT_THAT(table.out, ::testing::ContainsRegex(absl::StrCat(
                               type, " .* [0-9]+ +", state, "( |\n)")))
        << type;
  }
  QgRun json = RunQg({"jobs", "--json"}, db_->conninfo());
  EXPECT_THAT(json.out, HasSubstr(R"("working":true,"state":"working",)"));
  EXPECT_THAT(json.out, HasSubstr(R"("state":"cancelled")"));
}

// Regression (issue 17, defect 8): `qg jobs` selected the args of every
// listed job, which it never shows. A role that may not read que_jobs.args
// can list jobs now.
TEST_F(QgCommandTest, JobsListsWithoutReadingArgs) {
  Query(
      "INSERT INTO que_jobs (job_class, args) VALUES ('Secretive', "
      "'[\"secret\"]') RETURNING 1");
  const std::string role = "qg_jobs_" + db_->name();
  QG_ASSERT_OK(
      qg::ExecSimple(
          conn_.get(),
          absl::StrCat("DROP ROLE IF EXISTS ", role, "; CREATE ROLE ", role,
                       " LOGIN; GRANT USAGE ON SCHEMA public TO ", role,
                       "; GRANT SELECT (queue, priority, run_at, "
                       "job_id, job_class, error_count, "
                       "last_error) ON que_jobs TO ",
                       role))
          .status());
  std::string db = absl::StrCat(db_->conninfo(), " user=", role);
  QgRun table = RunQg({"jobs"}, db);
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("Secretive"));
  QgRun json = RunQg({"jobs", "--json"}, db);
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, Not(HasSubstr("secret\"")));
  QG_EXPECT_OK(qg::ExecSimple(conn_.get(), absl::StrCat("DROP OWNED BY ", role,
                                                        "; DROP ROLE ", role))
                   .status());
}

// Regression (issue 17, defect 8): `qg jobs ID` printed args and the last
// error in full, however large; both are cut at 64 KiB of text now, saying
// how large they are.
TEST_F(QgCommandTest, JobsShowsLargeArgsAndErrorsCutForDisplay) {
  Query(
      "INSERT INTO que_jobs (job_id, job_class, args, error_count, "
      "last_error) VALUES (77, 'Big', json_build_array(repeat('a', "
      "1048576)), 1, repeat('e', 1048576)) RETURNING 1");
  QgRun one = RunQg({"jobs", "77"}, db_->conninfo());
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_LT(one.out.size(), 200000u);
  EXPECT_THAT(one.out, HasSubstr("(cut at 65536 characters of 1048580 bytes)"));
  EXPECT_THAT(one.out, HasSubstr("(cut at 65536 characters of 1048576 bytes)"));
  QgRun json = RunQg({"jobs", "77", "--json"}, db_->conninfo());
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_LT(json.out.size(), 200000u);
  EXPECT_THAT(json.out, HasSubstr(R"("args":null)"));
  EXPECT_THAT(json.out, HasSubstr(R"("args_truncated":true)"));
}

// Regression (issue 17, class of defect 8): a filter that matches little
// walked the whole table for one page; a page of `qg jobs` looks at no more
// than 10,000 jobs and says where to search on.
TEST_F(QgCommandTest, JobsPageLooksAtABoundedNumberOfJobs) {
  Query(
      "INSERT INTO que_jobs (queue, job_class) SELECT 'a', 'Filler' FROM "
      "generate_series(1, 10050) RETURNING 1");
  Query(
      "INSERT INTO que_jobs (queue, job_class) VALUES ('z', 'Needle') "
      "RETURNING 1");
  QgRun first = RunQg({"jobs", "--type", "Needle"}, db_->conninfo());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.out, Not(HasSubstr("Needle")));
  EXPECT_THAT(first.out, HasSubstr("(searched 10000 jobs"));
  std::string::size_type at = first.out.find("--after '");
  ASSERT_NE(at, std::string::npos) << first.out;
  std::string cursor = first.out.substr(at + 9);
  cursor = cursor.substr(0, cursor.find('\''));
  QgRun next =
      RunQg({"jobs", "--type", "Needle", "--after", cursor}, db_->conninfo());
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_THAT(next.out, HasSubstr("Needle"));
  EXPECT_THAT(next.out, Not(HasSubstr("--after")));
}

// qg grants: prints the GRANTs of the three roles without a database (a
// bad name is a usage mistake), and --apply applies them, as often as it
// is run, to roles it creates where missing.
TEST_F(QgCommandTest, GrantsPrintsTheGrantsAndApplies) {
  QgRun printed = RunQg({"grants", "--worker", "app worker"}, "");
  EXPECT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_THAT(printed.out, HasSubstr("GRANT SELECT, UPDATE, DELETE ON TABLE "
                                     "que_jobs TO \"app worker\";"));
  QgRun reserved = RunQg({"grants", "--operator", "pg_x"}, "");
  EXPECT_EQ(reserved.exit_code, 2);
  EXPECT_THAT(reserved.err, HasSubstr("the operator role: \"pg_x\" is "
                                      "reserved"));
  QgRun no_db = RunQg({"grants", "--apply"}, "");
  EXPECT_EQ(no_db.exit_code, 2);

  const std::string e = "qg_cli_e_" + db_->name();
  const std::string w = "qg_cli_w_" + db_->name();
  const std::string o = "qg_cli_o_" + db_->name();
  for (int run = 0; run < 2; ++run) {
    QgRun applied = RunQg(
        {"grants", "--apply", "--enqueuer", e, "--worker", w, "--operator", o},
        db_->conninfo());
    EXPECT_EQ(applied.exit_code, 0) << applied.err;
    EXPECT_THAT(applied.out,
                HasSubstr(absl::StrCat("granted: the enqueuer ", e)));
  }
  EXPECT_EQ(
      Query(absl::StrCat("SELECT format('%s %s %s', has_table_privilege('", e,
                         "', 'que_jobs', 'DELETE'), has_table_privilege('", w,
                         "', 'que_jobs', 'DELETE'), has_table_privilege('", o,
                         "', 'qg_limits', 'UPDATE'))")),
      "f t t");
  QG_EXPECT_OK(
      qg::ExecSimple(conn_.get(),
                     absl::StrCat("DROP OWNED BY ", e, ", ", w, ", ", o,
                                  "; DROP ROLE ", e, ", ", w, ", ", o))
          .status());
}

}  // namespace
