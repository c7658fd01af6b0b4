// qg: the command-line tool of qg-cpp.
//
//   qg migrate                      create the que_jobs schema (idempotent)
//   qg enqueue --type T [...]       enqueue a job, print its id
//   qg stats [--json]               counts per queue and type
//   qg jobs [...] [--json]          list jobs
//   qg retry ID | --all-errored     make jobs runnable now
//   qg delete ID                    delete a job that is not being worked
//   qg work --handler TYPE=CMD ...  work jobs by running shell commands
//   qg demo [--jobs N]              the demo, on an embedded PostgreSQL
//
// The database comes from --db or $DATABASE_URL. Exit codes: 0 success,
// 1 failure at run time, 2 a usage mistake (bad flag or value).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/email/email.pb.h"
#include "glog/logging.h"
#include "qg/client.h"
#include "qg/internal/json.h"
#include "qg/internal/pg.h"
#include "qg/internal/queries.h"
#include "qg/internal/schema_state.h"
#include "qg/testing/postgres.h"
#include "qg/typed.h"
#include "qg/worker/worker.h"
#include "schema/schema.h"

ABSL_FLAG(std::string, db, "",
          "libpq conninfo or postgres:// URI; default: $DATABASE_URL");
ABSL_FLAG(std::string, type, "", "job type (Ruby Que's job_class)");
ABSL_FLAG(std::string, args, "[]", "job args: JSON text");
ABSL_FLAG(std::string, queue, "", "queue name");
ABSL_FLAG(int, priority, 100, "priority: lower runs first (smallint)");
ABSL_FLAG(std::string, run_at, "", "when to run: RFC 3339 time");
ABSL_FLAG(std::string, in, "", "when to run: a delay such as 90s, 5m, 1h");
ABSL_FLAG(bool, json, false, "print JSON instead of a table");
ABSL_FLAG(bool, errored, false, "only jobs that have failed at least once");
ABSL_FLAG(bool, dead, false, "only jobs that ran out of attempts");
ABSL_FLAG(int, limit, 50, "at most this many jobs");
ABSL_FLAG(bool, all_errored, false, "every job that has failed");
ABSL_FLAG(int, workers, 4, "worker threads");
ABSL_FLAG(int, jobs, 2000, "jobs the demo enqueues");
ABSL_FLAG(double, interval, 0.2, "seconds an idle worker waits between polls");

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Command {
  const char* name;
  const char* synopsis;
  const char* help;
  std::vector<std::string> flags;  // allowed flags besides --db/--help
  int (*run)(const std::vector<std::string>& positional);
};

std::string g_command;                // for messages
std::vector<std::string> g_handlers;  // --handler TYPE=COMMAND, repeated
std::set<std::string> g_set_flags;    // flags given on the command line

int Fail(int code, const std::string& message) {
  fprintf(stderr, "qg %s: %s\n", g_command.c_str(), message.c_str());
  return code;
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

std::optional<std::string> DatabaseUrl() {
  std::string db = absl::GetFlag(FLAGS_db);
  if (!db.empty()) return db;
  const char* env = getenv("DATABASE_URL");
  if (env != nullptr && *env != '\0') return std::string(env);
  return std::nullopt;
}

// Connects for an operator command; on failure prints why and returns null.
qg::internal::ConnPtr ConnectOrExplain(int* exit_code) {
  std::optional<std::string> db = DatabaseUrl();
  if (!db) {
    *exit_code =
        Fail(kExitUsage, "no database: pass --db=CONNINFO or set DATABASE_URL");
    return nullptr;
  }
  absl::StatusOr<qg::internal::ConnPtr> conn = qg::internal::Connect(*db);
  if (!conn.ok()) {
    *exit_code = Fail(conn.status().code() == absl::StatusCode::kInvalidArgument
                          ? kExitUsage
                          : kExitFailure,
                      std::string(conn.status().message()));
    return nullptr;
  }
  return std::move(*conn);
}

// Runs a query; on failure prints the error.
std::optional<qg::internal::Result> Query(PGconn* conn, absl::string_view sql,
                                          const qg::internal::Params& params,
                                          int* exit_code) {
  absl::StatusOr<qg::internal::Result> r =
      qg::internal::Exec(conn, sql, params);
  if (!r.ok()) {
    *exit_code = Fail(kExitFailure, std::string(r.status().message()));
    return std::nullopt;
  }
  return std::move(*r);
}

// An aligned text table.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      absl::StrAppend(&line, c ? "  " : "", row[c],
                      std::string(width[c] - row[c].size(), ' '));
    }
    printf("%s\n",
           std::string(absl::StripTrailingAsciiWhitespace(line)).c_str());
  };
  print(header);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  print(rule);
  for (const auto& row : rows) print(row);
}

std::string Printable(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"\n", "\\n"}, {"\r", "\\r"}, {"\t", "\\t"}});
}

// ---------------------------------------------------------------------------
// migrate

int Migrate(const std::vector<std::string>&) {
  int code = 0;
  qg::internal::ConnPtr conn = ConnectOrExplain(&code);
  if (!conn) return code;
  absl::StatusOr<qg::internal::QueSchemaState> existing =
      qg::internal::InspectQueSchema(conn.get());
  if (!existing.ok()) {
    return Fail(kExitFailure, std::string(existing.status().message()));
  }
  bool there = existing->kind == qg::internal::QueSchemaState::Kind::kQue0;
  if (existing->kind == qg::internal::QueSchemaState::Kind::kOtherVersion) {
    return Fail(
        kExitFailure,
        absl::StrCat("refusing to migrate: ",
                     qg::internal::QueSchemaStatus(*existing).message()));
  }
  for (const char* sql :
       {qg::schema::kQueJobsSql, qg::schema::kQgAdditionsSql}) {
    absl::StatusOr<qg::internal::Result> r =
        qg::internal::ExecSimple(conn.get(), sql);
    if (!r.ok()) return Fail(kExitFailure, std::string(r.status().message()));
  }
  printf(
      "que_jobs is at schema version %d%s, with qg-cpp's lock function "
      "and NOTIFY trigger\n",
      qg::schema::kQueSchemaVersion, there ? " (already there)" : " (created)");
  return 0;
}

// ---------------------------------------------------------------------------
// enqueue

int Enqueue(const std::vector<std::string>&) {
  qg::NewJob job;
  job.type = absl::GetFlag(FLAGS_type);
  job.args = absl::GetFlag(FLAGS_args);
  job.queue = absl::GetFlag(FLAGS_queue);
  job.priority = absl::GetFlag(FLAGS_priority);
  if (job.type.empty()) return Fail(kExitUsage, "--type is required");
  if (absl::Status s = qg::internal::ValidateJson(job.args); !s.ok()) {
    return Fail(kExitUsage, absl::StrCat("--args: ", s.message()));
  }
  std::string run_at = absl::GetFlag(FLAGS_run_at);
  std::string in = absl::GetFlag(FLAGS_in);
  if (!run_at.empty() && !in.empty()) {
    return Fail(kExitUsage, "give --run-at or --in, not both");
  }
  if (!run_at.empty()) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, run_at, &t, &err)) {
      return Fail(kExitUsage, absl::StrCat("--run-at \"", run_at,
                                           "\" is not an RFC 3339 time such as "
                                           "2026-12-01T09:00:00Z: ",
                                           err));
    }
    job.run_at = t;
  }
  if (!in.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(in, &d) || d < absl::ZeroDuration()) {
      return Fail(kExitUsage, absl::StrCat("--in \"", in,
                                           "\" is not a delay such as 90s, "
                                           "5m or 1h30m"));
    }
    job.run_at = absl::Now() + d;
  }
  absl::StatusOr<qg::internal::InsertRow> row = qg::ValidateNewJob(job);
  if (!row.ok()) return Fail(kExitUsage, std::string(row.status().message()));
  int code = 0;
  qg::internal::ConnPtr conn = ConnectOrExplain(&code);
  if (!conn) return code;
  absl::StatusOr<qg::internal::Result> r =
      qg::internal::Run(conn.get(), qg::internal::queries::InsertJob(*row));
  if (!r.ok()) return Fail(kExitFailure, std::string(r.status().message()));
  printf("%s\n", std::string(r->Get(0, 0)).c_str());
  return 0;
}

// ---------------------------------------------------------------------------
// stats

int Stats(const std::vector<std::string>&) {
  std::optional<std::string> db = DatabaseUrl();
  if (!db) {
    return Fail(kExitUsage,
                "no database: pass --db=CONNINFO or set DATABASE_URL");
  }
  absl::StatusOr<std::unique_ptr<qg::Client>> client =
      qg::Client::Create({.conninfo = *db, .max_conns = 1});
  if (!client.ok()) {
    return Fail(client.status().code() == absl::StatusCode::kInvalidArgument
                    ? kExitUsage
                    : kExitFailure,
                std::string(client.status().message()));
  }
  absl::StatusOr<std::vector<qg::JobStats>> stats = (*client)->Stats();
  if (!stats.ok())
    return Fail(kExitFailure, std::string(stats.status().message()));
  auto time = [](absl::Time t) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
  };
  if (absl::GetFlag(FLAGS_json)) {
    std::vector<std::string> items;
    for (const qg::JobStats& s : *stats) {
      items.push_back(absl::StrCat(
          "{\"queue\":", JsonString(s.queue), ",\"type\":", JsonString(s.type),
          ",\"count\":", s.count, ",\"working\":", s.count_working,
          ",\"errored\":", s.count_errored, ",\"highest_error_count\":",
          s.highest_error_count, ",\"dead\":", s.count_dead,
          ",\"oldest_run_at\":", JsonString(time(s.oldest_run_at)), "}"));
    }
    printf("[%s]\n", absl::StrJoin(items, ",").c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const qg::JobStats& s : *stats) {
    rows.push_back(
        {s.queue.empty() ? "(default)" : Printable(s.queue), Printable(s.type),
         absl::StrCat(s.count), absl::StrCat(s.count_working),
         absl::StrCat(s.count_errored), absl::StrCat(s.highest_error_count),
         absl::StrCat(s.count_dead), time(s.oldest_run_at)});
  }
  PrintTable({"QUEUE", "TYPE", "COUNT", "WORKING", "ERRORED", "MAX_ERRORS",
              "DEAD", "OLDEST_RUN_AT"},
             rows);
  if (rows.empty()) printf("(no jobs)\n");
  return 0;
}

// ---------------------------------------------------------------------------
// jobs

int Jobs(const std::vector<std::string>&) {
  int limit = absl::GetFlag(FLAGS_limit);
  if (limit < 1) return Fail(kExitUsage, "--limit must be at least 1");
  int code = 0;
  qg::internal::ConnPtr conn = ConnectOrExplain(&code);
  if (!conn) return code;
  std::string queue = absl::GetFlag(FLAGS_queue);
  std::string type = absl::GetFlag(FLAGS_type);
  auto r = Query(
      conn.get(),
      "SELECT job_id, queue, job_class, priority, "
      "to_char(run_at AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
      "error_count, split_part(coalesce(last_error, ''), E'\\n', 1), "
      "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND "
      "l.objsubid = 1 AND ((l.classid::bigint << 32) + l.objid::bigint) = "
      "j.job_id) "
      "FROM que_jobs j "
      "WHERE ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR "
      "job_class = $2) AND (NOT $3::bool OR error_count > 0) "
      "AND (NOT $5::bool OR run_at >= '9999-01-01 00:00:00+00') "
      "ORDER BY queue, priority, run_at, job_id LIMIT $4::int",
      {g_set_flags.count("queue") ? qg::SqlParam(queue)
                                  : qg::SqlParam(std::nullopt),
       type.empty() ? qg::SqlParam(std::nullopt) : qg::SqlParam(type),
       absl::GetFlag(FLAGS_errored) ? "true" : "false", absl::StrCat(limit),
       absl::GetFlag(FLAGS_dead) ? "true" : "false"},
      &code);
  if (!r) return code;
  if (absl::GetFlag(FLAGS_json)) {
    std::vector<std::string> items;
    for (int i = 0; i < r->rows(); ++i) {
      items.push_back(absl::StrCat(
          "{\"id\":", r->Get(i, 0), ",\"queue\":", JsonString(r->Get(i, 1)),
          ",\"type\":", JsonString(r->Get(i, 2)), ",\"priority\":",
          r->Get(i, 3), ",\"run_at\":", JsonString(r->Get(i, 4)),
          ",\"error_count\":", r->Get(i, 5), ",\"last_error\":",
          r->IsNull(i, 6) || r->Get(i, 6).empty() ? "null"
                                                  : JsonString(r->Get(i, 6)),
          ",\"working\":", r->Get(i, 7) == "t" ? "true" : "false", "}"));
    }
    printf("[%s]\n", absl::StrJoin(items, ",").c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < r->rows(); ++i) {
    std::string err = Printable(r->Get(i, 6));
    if (err.size() > 60) err = err.substr(0, 57) + "...";
    rows.push_back(
        {std::string(r->Get(i, 0)),
         r->Get(i, 1).empty() ? "(default)" : Printable(r->Get(i, 1)),
         Printable(r->Get(i, 2)), std::string(r->Get(i, 3)),
         std::string(r->Get(i, 4)), std::string(r->Get(i, 5)),
         r->Get(i, 7) == "t" ? "yes" : "", err});
  }
  PrintTable({"ID", "QUEUE", "TYPE", "PRIORITY", "RUN_AT", "ERRORS", "WORKING",
              "LAST_ERROR"},
             rows);
  if (rows.empty()) printf("(no jobs)\n");
  return 0;
}

// ---------------------------------------------------------------------------
// retry, delete

std::optional<int64_t> ParseId(const std::vector<std::string>& positional,
                               int* code) {
  if (positional.size() != 1) {
    *code = Fail(kExitUsage, "expected exactly one job ID");
    return std::nullopt;
  }
  int64_t id = 0;
  if (!absl::SimpleAtoi(positional[0], &id) || id <= 0) {
    *code = Fail(kExitUsage,
                 absl::StrCat("\"", positional[0], "\" is not a job ID"));
    return std::nullopt;
  }
  return id;
}

int Retry(const std::vector<std::string>& positional) {
  int code = 0;
  bool all = absl::GetFlag(FLAGS_all_errored);
  std::optional<int64_t> id;
  if (all) {
    if (!positional.empty()) {
      return Fail(kExitUsage, "give a job ID or --all-errored, not both");
    }
  } else {
    id = ParseId(positional, &code);
    if (!id) return code;
  }
  std::optional<std::string> db = DatabaseUrl();
  if (!db) {
    return Fail(kExitUsage,
                "no database: pass --db=CONNINFO or set DATABASE_URL");
  }
  absl::StatusOr<std::unique_ptr<qg::Client>> client =
      qg::Client::Create({.conninfo = *db, .max_conns = 1});
  if (!client.ok()) {
    return Fail(client.status().code() == absl::StatusCode::kInvalidArgument
                    ? kExitUsage
                    : kExitFailure,
                std::string(client.status().message()));
  }
  std::vector<int64_t> ids;
  if (all) {
    qg::internal::ConnPtr conn = ConnectOrExplain(&code);
    if (!conn) return code;
    auto r = Query(conn.get(),
                   "SELECT job_id FROM que_jobs WHERE error_count > 0 "
                   "ORDER BY job_id",
                   {}, &code);
    if (!r) return code;
    for (int i = 0; i < r->rows(); ++i) {
      int64_t one = 0;
      if (absl::SimpleAtoi(r->Get(i, 0), &one)) ids.push_back(one);
    }
  } else {
    ids.push_back(*id);
  }
  int64_t retried = 0, held = 0;
  for (int64_t one : ids) {
    absl::Status s = (*client)->RetryJob(one);
    if (s.ok()) {
      ++retried;
    } else if (s.code() == absl::StatusCode::kFailedPrecondition) {
      ++held;
      if (!all) return Fail(kExitFailure, std::string(s.message()));
    } else if (!all || s.code() != absl::StatusCode::kNotFound) {
      return Fail(kExitFailure, std::string(s.message()));
    }
  }
  printf("%lld job(s) will run now\n", static_cast<long long>(retried));
  if (held > 0) {
    printf("%lld job(s) skipped: held by a worker right now\n",
           static_cast<long long>(held));
  }
  return 0;
}

int Delete(const std::vector<std::string>& positional) {
  int code = 0;
  std::optional<int64_t> id = ParseId(positional, &code);
  if (!id) return code;
  qg::internal::ConnPtr conn = ConnectOrExplain(&code);
  if (!conn) return code;
  std::string sid = absl::StrCat(*id);
  // Take the job's advisory lock first so a running job is not deleted under
  // its worker.
  auto locked = Query(conn.get(), "SELECT pg_try_advisory_lock($1::bigint)",
                      {sid}, &code);
  if (!locked) return code;
  if (locked->Get(0, 0) != "t") {
    return Fail(kExitFailure, absl::StrCat("job ", *id,
                                           " is being worked right now; "
                                           "try again when it is done"));
  }
  auto r = Query(conn.get(), "DELETE FROM que_jobs WHERE job_id = $1::bigint",
                 {sid}, &code);
  Query(conn.get(), "SELECT pg_advisory_unlock($1::bigint)", {sid}, &code);
  if (!r) return code;
  if (r->AffectedRows() == 0) {
    return Fail(kExitFailure, absl::StrCat("no job with ID ", *id));
  }
  printf("deleted job %lld\n", static_cast<long long>(*id));
  return 0;
}

// ---------------------------------------------------------------------------
// work

// Runs `command` with /bin/sh, `input` on its stdin. Returns OK on exit 0,
// else an error holding the last lines of its stderr.
absl::Status RunCommand(const std::string& command, const std::string& input,
                        const qg::Job& job) {
  int in[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    return absl::InternalError("pipe failed");
  }
  std::vector<std::string> env_strings = {
      absl::StrCat("QG_JOB_ID=", job.id()),
      absl::StrCat("QG_JOB_TYPE=", job.type()),
      absl::StrCat("QG_JOB_QUEUE=", job.queue()),
      absl::StrCat("QG_JOB_ERROR_COUNT=", job.error_count())};
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(err[1], 2);
    for (std::string& e : env_strings) putenv(e.data());
    signal(SIGPIPE, SIG_DFL);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(err[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  bool in_open = true;
  if (input.empty()) {
    close(in[1]);
    in_open = false;
  }
  std::string stderr_text;
  bool err_open = true;
  while (err_open) {
    struct pollfd fds[2] = {{err[0], POLLIN, 0},
                            {in_open ? in[1] : -1, POLLOUT, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in_open && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(in[1], input.data() + written, input.size() - written);
      if (n > 0) written += n;
      // EPIPE (SIGPIPE is ignored): the handler closed its stdin without
      // reading all of it, which is its right; the write is done.
      if (n < 0 && errno != EAGAIN) written = input.size();
      if (written == input.size()) {
        close(in[1]);
        in_open = false;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t n = read(err[0], buf, sizeof(buf));
      if (n <= 0) {
        err_open = false;
      } else {
        stderr_text.append(buf, n);
        if (stderr_text.size() > 65536) {
          stderr_text.erase(0, stderr_text.size() - 65536);
        }
      }
    }
  }
  if (in_open) close(in[1]);
  close(err[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  std::vector<std::string> lines = absl::StrSplit(
      absl::StripTrailingAsciiWhitespace(stderr_text), '\n', absl::SkipEmpty());
  size_t from = lines.size() > 10 ? lines.size() - 10 : 0;
  std::string tail = absl::StrJoin(lines.begin() + from, lines.end(), "\n");
  std::string how =
      WIFEXITED(status)
          ? absl::StrCat("exited with status ", WEXITSTATUS(status))
          : absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::UnknownError(tail.empty()
                                ? absl::StrCat("command ", how)
                                : absl::StrCat("command ", how, ": ", tail));
}

// Blocks SIGINT/SIGTERM in every thread; returns a function that waits for
// one of them (or for `done` to be set, polled every 100 ms).
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Waits up to `timeout` for SIGINT/SIGTERM; true if one arrived.
bool WaitStopSignal(const sigset_t& set, absl::Duration timeout) {
  struct timespec ts = absl::ToTimespec(timeout);
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig == SIGINT || sig == SIGTERM;
}

int Work(const std::vector<std::string>&) {
  if (g_handlers.empty()) {
    return Fail(kExitUsage, "give at least one --handler TYPE=COMMAND");
  }
  int workers = absl::GetFlag(FLAGS_workers);
  if (workers < 1) return Fail(kExitUsage, "--workers must be at least 1");
  std::optional<std::string> db = DatabaseUrl();
  if (!db) {
    return Fail(kExitUsage,
                "no database: pass --db=CONNINFO or set DATABASE_URL");
  }
  qg::WorkMap work_map;
  for (const std::string& h : g_handlers) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(h, absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) {
      return Fail(kExitUsage,
                  absl::StrCat("--handler \"", h, "\" is not TYPE=COMMAND"));
    }
    work_map.Register(kv.first, [command = kv.second](qg::Job& job) {
      return RunCommand(command, job.args(), job);
    });
  }
  sigset_t signals = BlockStopSignals();
  // A handler that exits without reading its stdin closes the pipe under
  // RunCommand's write: that must be EPIPE ("stdin closed", the write is
  // done), not a SIGPIPE that kills qg work. Children restore SIG_DFL.
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<std::unique_ptr<qg::Client>> client =
      qg::Client::Create({.conninfo = *db, .max_conns = workers + 1});
  if (!client.ok()) {
    return Fail(client.status().code() == absl::StatusCode::kInvalidArgument
                    ? kExitUsage
                    : kExitFailure,
                std::string(client.status().message()));
  }
  qg::WorkerOptions options;
  if (!absl::GetFlag(FLAGS_queue).empty())
    options.queue = absl::GetFlag(FLAGS_queue);
  options.interval = absl::Seconds(absl::GetFlag(FLAGS_interval));
  qg::WorkerPool pool(client->get(), &work_map, workers, options);
  if (absl::Status s = pool.Start(); !s.ok()) {
    return Fail(s.code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                               : kExitFailure,
                std::string(s.message()));
  }
  fprintf(stderr,
          "qg work: %d worker(s) on queue \"%s\" for %zu type(s); Ctrl-C to "
          "stop\n",
          workers, options.queue.c_str(), g_handlers.size());
  while (!WaitStopSignal(signals, absl::Hours(1))) {
  }
  fprintf(stderr, "qg work: stopping; waiting for running jobs to finish\n");
  pool.Shutdown();
  fprintf(stderr, "qg work: stopped\n");
  return 0;
}

// ---------------------------------------------------------------------------
// demo

// The demo works a queue of its own, so that on a real database (--db) it
// never takes, fails or deletes anyone else's jobs.
constexpr char kDemoQueue[] = "qg-demo";

// The demo's planned failures are expected: log only errors.
class ErrorsOnlyLogger : public qg::Logger {
 public:
  void Log(qg::LogLevel level, absl::string_view message) override {
    if (level == qg::LogLevel::kError) qg::DefaultLogger().Log(level, message);
  }
};

int Demo(const std::vector<std::string>&) {
  int jobs = absl::GetFlag(FLAGS_jobs);
  int workers = absl::GetFlag(FLAGS_workers);
  if (jobs < 1) return Fail(kExitUsage, "--jobs must be at least 1");
  if (workers < 1) return Fail(kExitUsage, "--workers must be at least 1");
  sigset_t signals = BlockStopSignals();

  std::unique_ptr<qg_testing::PostgresServer> server;
  std::string conninfo;
  if (std::optional<std::string> db = DatabaseUrl()) {
    conninfo = *db;
    fprintf(stderr, "qg demo: using the database you gave\n");
  } else {
    fprintf(stderr,
            "qg demo: no --db or DATABASE_URL; booting an embedded, "
            "throwaway PostgreSQL...\n");
    absl::StatusOr<std::unique_ptr<qg_testing::PostgresServer>> s =
        qg_testing::PostgresServer::Start();
    if (!s.ok()) return Fail(kExitFailure, std::string(s.status().message()));
    server = std::move(*s);
    conninfo = server->conninfo();
    fprintf(stderr, "qg demo: PostgreSQL ready (%s)\n", conninfo.c_str());
  }

  // The handler: fails once for every 10th user, then succeeds.
  std::mutex mu;
  absl::flat_hash_set<int64_t> done_ids;
  std::atomic<int64_t> completed{0}, duplicates{0}, failures{0};
  qg::WorkMap work_map;
  work_map.Register<qg::examples::email::WelcomeEmail>(
      [&](qg::Job& job, const qg::examples::email::WelcomeEmail& email) {
        if (email.user_id() % 10 == 0 && job.error_count() == 0) {
          ++failures;
          return absl::UnavailableError("mail server busy (demo: fails once)");
        }
        std::lock_guard<std::mutex> lock(mu);
        if (!done_ids.insert(job.id()).second) ++duplicates;
        ++completed;
        return absl::OkStatus();
      });

  qg::ClientOptions options;
  options.conninfo = conninfo;
  options.max_conns = workers + 2;
  options.backoff = [](int32_t) {
    return absl::Seconds(1);
  };  // demo: fast retry
  ErrorsOnlyLogger quiet;
  options.logger = &quiet;
  absl::StatusOr<std::unique_ptr<qg::Client>> client_or =
      qg::Client::Create(options);
  if (!client_or.ok()) {
    return Fail(kExitFailure, std::string(client_or.status().message()));
  }
  std::unique_ptr<qg::Client> client = std::move(*client_or);
  if (absl::Status s = [&]() -> absl::Status {
        absl::StatusOr<qg::internal::ConnPtr> c =
            qg::internal::Connect(conninfo);
        if (!c.ok()) return c.status();
        return qg::internal::Exec(c->get(),
                                  "DELETE FROM que_jobs WHERE queue = $1",
                                  {kDemoQueue})
            .status();
      }();
      !s.ok()) {
    return Fail(kExitFailure, std::string(s.message()));
  }

  // Enqueue: most now, 5% scheduled 2 s ahead, 5% in a transaction that
  // rolls back (never run).
  absl::Time start = absl::Now();
  int scheduled = 0, rolled_back = 0;
  absl::StatusOr<qg::internal::ConnPtr> tx_conn =
      qg::internal::Connect(conninfo);
  if (!tx_conn.ok())
    return Fail(kExitFailure, std::string(tx_conn.status().message()));
  for (int i = 1; i <= jobs; ++i) {
    qg::examples::email::WelcomeEmail email;
    email.set_user_id(i);
    email.set_address(absl::StrCat("user", i, "@example.com"));
    email.set_name(absl::StrCat("User ", i));
    qg::NewJob base;
    base.queue = kDemoQueue;
    if (i % 20 == 7) {
      base.run_at = absl::Now() + absl::Seconds(2);
      ++scheduled;
    }
    absl::StatusOr<qg::NewJob> job = qg::NewTypedJob(email, base);
    if (!job.ok())
      return Fail(kExitFailure, std::string(job.status().message()));
    absl::Status s;
    if (i % 20 == 13) {
      absl::StatusOr<std::unique_ptr<qg::PgTx>> tx =
          qg::PgTx::Begin(tx_conn->get());
      if (!tx.ok())
        return Fail(kExitFailure, std::string(tx.status().message()));
      s = client->EnqueueInTx(*job, **tx).status();
      if (s.ok()) s = (*tx)->Rollback();
      ++rolled_back;
    } else {
      s = client->Enqueue(*job).status();
    }
    if (!s.ok()) return Fail(kExitFailure, std::string(s.message()));
  }
  absl::Duration enqueue_time = absl::Now() - start;
  int64_t expected = jobs - rolled_back;
  fprintf(stderr,
          "qg demo: enqueued %d typed jobs in %.2f s (%d scheduled 2 s ahead, "
          "%d in a transaction that rolled back, every 10th fails once)\n",
          jobs, absl::ToDoubleSeconds(enqueue_time), scheduled, rolled_back);

  qg::WorkerOptions wopts;
  wopts.interval = absl::Milliseconds(50);
  wopts.queue = kDemoQueue;
  qg::WorkerPool pool(client.get(), &work_map, workers, wopts);
  absl::Time work_start = absl::Now();
  if (absl::Status s = pool.Start(); !s.ok()) {
    return Fail(kExitFailure, std::string(s.message()));
  }
  bool tty = isatty(2);
  bool interrupted = false;
  absl::Time last_line = absl::InfinitePast();
  absl::Time deadline = absl::Now() + absl::Minutes(5);
  while (true) {
    int64_t n = completed.load();
    double secs = absl::ToDoubleSeconds(absl::Now() - work_start);
    double rate = secs > 0 ? n / secs : 0;
    if (tty) {
      int width = 30;
      int filled = static_cast<int>(width * n / std::max<int64_t>(expected, 1));
      fprintf(stderr, "\r[%s%s] %lld/%lld jobs  %.0f jobs/s  %lld retried   ",
              std::string(filled, '#').c_str(),
              std::string(width - filled, '.').c_str(),
              static_cast<long long>(n), static_cast<long long>(expected), rate,
              static_cast<long long>(failures.load()));
    } else if (absl::Now() - last_line >= absl::Seconds(1) || n >= expected) {
      fprintf(stderr, "qg demo: %lld/%lld jobs done, %.0f jobs/s\n",
              static_cast<long long>(n), static_cast<long long>(expected),
              rate);
      last_line = absl::Now();
    }
    if (n >= expected) break;
    if (absl::Now() > deadline) break;
    if (WaitStopSignal(signals, absl::Milliseconds(100))) {
      interrupted = true;
      break;
    }
  }
  if (tty) fprintf(stderr, "\n");
  absl::Duration work_time = absl::Now() - work_start;
  pool.Shutdown();

  absl::StatusOr<std::vector<qg::JobStats>> stats = client->Stats();
  printf("\nque_jobs after the run (qg stats):\n");
  if (stats.ok()) {
    std::vector<std::vector<std::string>> rows;
    for (const qg::JobStats& s : *stats) {
      rows.push_back({s.queue.empty() ? "(default)" : s.queue, s.type,
                      absl::StrCat(s.count), absl::StrCat(s.count_working),
                      absl::StrCat(s.count_errored),
                      absl::StrCat(s.highest_error_count)});
    }
    PrintTable({"QUEUE", "TYPE", "COUNT", "WORKING", "ERRORED", "MAX_ERRORS"},
               rows);
    if (rows.empty()) printf("(no jobs left)\n");
  }
  printf("\nsummary:\n");
  PrintTable(
      {"WHAT", "VALUE"},
      {{"jobs enqueued", absl::StrCat(jobs)},
       {"rolled back with their transaction", absl::StrCat(rolled_back)},
       {"scheduled 2 s ahead", absl::StrCat(scheduled)},
       {"failed once, then retried", absl::StrCat(failures.load())},
       {"completed", absl::StrCat(completed.load(), " of ", expected)},
       {"ran twice", absl::StrCat(duplicates.load())},
       {"workers", absl::StrCat(workers)},
       {"work time",
        absl::StrFormat("%.2f s", absl::ToDoubleSeconds(work_time))},
       {"throughput",
        absl::StrFormat("%.0f jobs/s",
                        completed.load() / std::max(1e-9, absl::ToDoubleSeconds(
                                                              work_time)))}});
  client->Close();
  client.reset();
  server.reset();  // stops the embedded PostgreSQL and removes its data
  if (interrupted) {
    fprintf(stderr, "qg demo: interrupted; cleaned up\n");
    return 130;
  }
  if (completed.load() < expected || duplicates.load() > 0) {
    return Fail(kExitFailure, "not every job completed exactly once");
  }
  return 0;
}

// ---------------------------------------------------------------------------

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"migrate",
       "qg migrate [--db CONNINFO]",
       "Creates the que_jobs table (Ruby Que 0.x schema version 3) if it is "
       "missing, and\nqg-cpp's additive lock function and NOTIFY trigger "
       "(peers keep working).\nIdempotent. Refuses a que_jobs table of "
       "another Que version.",
       {},
       Migrate},
      {"enqueue",
       "qg enqueue --type T [--args JSON] [--queue Q] [--priority P] "
       "[--run-at TIME | --in DURATION]",
       "Enqueues one job and prints its id.\n"
       "  --type      job type (Ruby Que's job_class), required\n"
       "  --args      JSON text (default [])\n"
       "  --queue     queue name (default: the default queue \"\")\n"
       "  --priority  lower runs first, -32768..32767 (default 100)\n"
       "  --run-at    RFC 3339 time, e.g. 2026-12-01T09:00:00Z\n"
       "  --in        delay, e.g. 90s, 5m, 1h30m",
       {"type", "args", "queue", "priority", "run_at", "in"},
       Enqueue},
      {"stats",
       "qg stats [--json]",
       "Per queue and type: count, working (locked now), errored, highest "
       "error count,\noldest run_at.",
       {"json"},
       Stats},
      {"jobs",
       "qg jobs [--queue Q] [--type T] [--errored] [--dead] [--limit N] "
       "[--json]",
       "Lists jobs in the order workers take them, with the first line of "
       "their last error.\n--dead lists only jobs that ran out of attempts.",
       {"queue", "type", "errored", "dead", "limit", "json"},
       Jobs},
      {"retry",
       "qg retry ID | qg retry --all-errored",
       "Makes a job (or every job that has failed) runnable now; a dead job "
       "(out of\nattempts) also gets its attempts back.",
       {"all_errored"},
       Retry},
      {"delete",
       "qg delete ID",
       "Deletes a job; refuses while a worker holds it.",
       {},
       Delete},
      {"work",
       "qg work [--queue Q] [--workers N] [--interval SECONDS] --handler "
       "TYPE=COMMAND ...",
       "Works jobs by running a shell command per job, the job's args JSON on "
       "its stdin\n(and QG_JOB_ID, QG_JOB_TYPE, QG_JOB_QUEUE, "
       "QG_JOB_ERROR_COUNT in its environment).\nExit 0 is success; anything "
       "else fails the job with the command's last stderr\nlines and retries "
       "it with backoff. Ctrl-C stops after the running jobs finish.",
       {"queue", "workers", "interval"},
       Work},
      {"demo",
       "qg demo [--jobs N] [--workers N] [--db CONNINFO]",
       "Enqueues N typed protobuf jobs (some scheduled, some in a transaction "
       "that rolls\nback, some failing once), works them with a worker pool, "
       "and prints the stats\nand throughput. Without --db or DATABASE_URL it "
       "boots an embedded, throwaway\nPostgreSQL and removes it afterwards.",
       {"jobs", "workers"},
       Demo},
  };
  return *commands;
}

void PrintUsage(FILE* out) {
  fprintf(out,
          "qg: the command line of qg-cpp, a PostgreSQL job queue (Que 0.x "
          "compatible).\n\nUsage:\n");
  for (const Command& c : Commands()) fprintf(out, "  %s\n", c.synopsis);
  fprintf(out,
          "\nThe database is --db=CONNINFO or $DATABASE_URL. `qg COMMAND "
          "--help` explains a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;  // warnings and up
  if (argc < 2 || std::string(argv[1]) == "--help" ||
      std::string(argv[1]) == "-h" || std::string(argv[1]) == "help") {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitUsage : 0;
  }
  g_command = argv[1];
  const Command* command = nullptr;
  for (const Command& c : Commands()) {
    if (g_command == c.name) command = &c;
  }
  if (command == nullptr) {
    fprintf(stderr, "qg: unknown command \"%s\"\n\n", argv[1]);
    PrintUsage(stderr);
    return kExitUsage;
  }
  std::set<std::string> allowed(command->flags.begin(), command->flags.end());
  allowed.insert("db");
  std::vector<std::string> positional;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      printf("Usage: %s\n\n%s\n", command->synopsis, command->help);
      return 0;
    }
    if (!absl::StartsWith(arg, "--")) {
      positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    absl::StrReplaceAll({{"-", "_"}}, &name);
    if (name == "handler" && g_command == "work") {
      if (!has_value) {
        if (i + 1 >= argc)
          return Fail(kExitUsage, "--handler needs TYPE=COMMAND");
        value = argv[++i];
      }
      g_handlers.push_back(value);
      continue;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr || !allowed.count(name)) {
      fprintf(stderr, "qg %s: unknown flag --%s\n\nUsage: %s\n",
              g_command.c_str(), name.c_str(), command->synopsis);
      return kExitUsage;
    }
    bool is_bool = flag->IsOfType<bool>();
    if (!has_value) {
      if (is_bool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return Fail(kExitUsage, absl::StrCat("--", name, " needs a value"));
      }
    }
    std::string error;
    g_set_flags.insert(name);
    if (!flag->ParseFrom(value, &error)) {
      return Fail(kExitUsage,
                  absl::StrCat("--", name, "=", value, ": ", error));
    }
  }
  if (g_command != "retry" && g_command != "delete" && !positional.empty()) {
    return Fail(kExitUsage,
                absl::StrCat("unexpected argument \"", positional[0], "\""));
  }
  return command->run(positional);
}
