// qg jobs: lists jobs (one page at a time), or shows one job.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "qg/admin.h"
#include "qg/admin_json.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/output.h"

namespace qg_cli {
namespace {

struct JobsOptions {
  std::string db;
  std::optional<int64_t> id;  // show one job
  qg::JobFilter filter;
  qg::PageRequest page;
  bool json = false;
};

absl::StatusOr<JobsOptions> Parse(const std::vector<std::string>& args) {
  JobsOptions o;
  bool errored = false, dead = false;
  std::optional<std::string> state, after;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.OptionalString("queue", &o.filter.queue);
  flags.OptionalString("type", &o.filter.type);
  flags.OptionalString("state", &state);
  flags.Bool("errored", &errored);
  flags.Bool("dead", &dead);
  flags.String("error-contains", &o.filter.error_contains);
  flags.Int("limit", &o.page.limit);
  flags.OptionalString("after", &after);
  flags.Bool("json", &o.json);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", positional[1], "\""));
  }
  if (positional.size() == 1) {
    absl::StatusOr<int64_t> id = ParseJobId(positional[0]);
    if (!id.ok()) return id.status();
    o.id = *id;
  }
  if (absl::Status s = CheckFilter(o.filter); !s.ok()) return s;
  if (int given = state.has_value() + errored + dead; given > 1) {
    return absl::InvalidArgumentError(
        "give one of --state, --errored and --dead");
  }
  if (state.has_value()) {
    absl::StatusOr<qg::JobState> s = qg::ParseJobState(*state);
    if (!s.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("--state: ", s.status().message()));
    o.filter.state = *s;
  }
  if (errored) o.filter.state = qg::JobState::kErrored;
  if (dead) o.filter.state = qg::JobState::kDead;
  if (o.page.limit < 1 || o.page.limit > 10000) {
    return absl::InvalidArgumentError("--limit must be 1..10000");
  }
  if (after.has_value()) {
    absl::StatusOr<qg::JobCursor> c = qg::JobCursor::Decode(*after);
    if (!c.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--after: ", c.status().message()));
    }
    o.page.after = *c;
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

// A job's state in words, for `qg jobs ID`.
std::string StateOf(const qg::JobRecord& job) {
  std::string state = qg::JobStateName(job, absl::Now());
  if (state == "working") {
    return absl::StrCat("working (advisory lock held by backend pid ",
                        job.held_by_pid, ")");
  }
  if (state == "cancelled") {
    return absl::StrCat("cancelled (by an operator; `qg retry ", job.id,
                        "` revives it)");
  }
  if (state == "dead") return "dead (out of attempts)";
  if (state == "errored") return "errored (runs again at its run_at)";
  return state;
}

// What `qg jobs ID` says under args or a last error it shows cut.
std::string CutNote(int64_t bytes) {
  return absl::StrCat("(cut at ", qg::kShownChars, " characters of ", bytes,
                      " bytes)");
}

// A finished job's history record, for `qg jobs ID`.
int ShowFinished(const JobsOptions& o, const qg::FinishedJob& f) {
  if (o.json) {
    JsonObject j = qg::FinishedJobJson(f);
    printf("%s\n", j.text().c_str());
    return kExitOk;
  }
  auto when = [](const std::optional<absl::Time>& t) {
    return t.has_value() ? FormatUtc(*t) : std::string("-");
  };
  printf("id:               %lld\n", static_cast<long long>(f.id));
  printf("queue:            %s\n",
         f.queue.empty() ? "(default)" : Printable(f.queue).c_str());
  printf("type:             %s\n", Printable(f.type).c_str());
  printf("priority:         %d\n", f.priority);
  printf("state:            finished: %s (history record)\n",
         std::string(qg::JobOutcomeName(f.outcome)).c_str());
  printf("attempts:         %d\n", f.attempts);
  printf("enqueued_at:      %s\n", when(f.enqueued_at).c_str());
  printf("first_started_at: %s\n", when(f.first_started_at).c_str());
  printf("started_at:       %s\n", when(f.started_at).c_str());
  printf("finished_at:      %s\n", FormatUtc(f.finished_at).c_str());
  printf(
      "run_time:         %s\n",
      f.run_time.has_value() ? absl::FormatDuration(*f.run_time).c_str() : "-");
  printf("args:             %s\n", f.args.c_str());
  if (f.args_truncated()) {
    printf("                  %s\n", CutNote(f.args_bytes).c_str());
  }
  printf("output:           %s\n", f.output.value_or("-").c_str());
  if (f.output_truncated()) {
    printf("                  %s\n", CutNote(f.output_bytes).c_str());
  }
  if (f.last_error.has_value()) {
    printf("last_error:\n  %s\n",
           absl::StrReplaceAll(*f.last_error, {{"\n", "\n  "}}).c_str());
    if (f.last_error_bytes > static_cast<int64_t>(f.last_error->size())) {
      printf("  %s\n", CutNote(f.last_error_bytes).c_str());
    }
  }
  return kExitOk;
}

int ShowOne(const JobsOptions& o, qg::Admin& admin) {
  const Command& self = JobsCommand();
  absl::StatusOr<qg::JobLookup> found = admin.LookUpJob(*o.id);
  if (!found.ok()) return Fail(self, found.status());
  if (found->phase == qg::JobPhase::kFinished) {
    return ShowFinished(o, *found->finished);
  }
  if (!found->job.has_value()) {
    return Fail(self, absl::NotFoundError(
                          absl::StrCat("no job with ID ", *o.id,
                                       " (and no history record of one)")));
  }
  const std::optional<qg::JobRecord>& job = found->job;
  if (o.json) {
    JsonObject j = qg::JobDetailJson(*job, absl::Now());
    printf("%s\n", j.text().c_str());
    return kExitOk;
  }
  printf("id:          %lld\n", static_cast<long long>(job->id));
  printf("queue:       %s\n",
         job->queue.empty() ? "(default)" : Printable(job->queue).c_str());
  printf("type:        %s\n", Printable(job->type).c_str());
  printf("priority:    %d\n", job->priority);
  printf("run_at:      %s\n", FormatUtc(job->run_at).c_str());
  printf("state:       %s\n", StateOf(*job).c_str());
  printf("error_count: %d\n", job->error_count);
  printf("args:        %s\n", job->args.c_str());
  if (job->args_truncated()) {
    printf("             %s\n", CutNote(job->args_bytes).c_str());
  }
  if (!job->last_error.empty()) {
    printf("last_error:\n  %s\n",
           absl::StrReplaceAll(job->last_error, {{"\n", "\n  "}}).c_str());
    if (job->last_error_truncated()) {
      printf("  %s\n", CutNote(job->last_error_bytes).c_str());
    }
  }
  return kExitOk;
}

int Run(const JobsOptions& o) {
  const Command& self = JobsCommand();
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  NoteReadOnly(**admin);
  if (o.id.has_value()) return ShowOne(o, **admin);
  qg::PageRequest request = o.page;
  request.max_scan = qg::kOperatorMaxScan;
  absl::StatusOr<qg::JobPage> page = (*admin)->ListJobs(o.filter, request);
  if (!page.ok()) return Fail(self, page.status());
  const absl::Time now = absl::Now();
  // A page that stopped at max_scan unfilled: where to search on.
  std::string partial;
  if (page->scan_limited) {
    partial = absl::StrCat("searched ", request.max_scan,
                           " jobs without filling the page: add --after ",
                           ShellQuote(page->next->Encode()), " to search on");
  }
  if (o.json) {
    std::vector<JsonObject> items;
    for (const qg::JobRecord& job : page->jobs) {
      items.push_back(qg::JobListJson(job, now));
    }
    printf("%s\n", JsonArray(items).c_str());
    if (!partial.empty()) fprintf(stderr, "qg jobs: %s\n", partial.c_str());
    return kExitOk;
  }
  Table table({"ID", "QUEUE", "TYPE", "PRIORITY", "RUN_AT", "ERRORS", "STATE",
               "LAST_ERROR"});
  for (const qg::JobRecord& job : page->jobs) {
    table.AddRow({absl::StrCat(job.id),
                  job.queue.empty() ? "(default)" : Printable(job.queue),
                  Printable(job.type), absl::StrCat(job.priority),
                  FormatUtc(job.run_at), absl::StrCat(job.error_count),
                  qg::JobStateName(job, now),
                  Truncate(Printable(job.last_error_line), 60)});
  }
  table.Print(stdout);
  if (!partial.empty()) {
    printf("(%s)\n", partial.c_str());
    return kExitOk;
  }
  if (table.empty()) printf("(no jobs)\n");
  if (page->next.has_value()) {
    printf("(more: add --after %s for the next page)\n",
           ShellQuote(page->next->Encode()).c_str());
  }
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(JobsCommand(), args, Parse, Run);
}

}  // namespace

const Command& JobsCommand() {
  static const Command command{
      "jobs",
      {"qg jobs [--queue Q] [--type T] [--state S | --errored | --dead] "
       "[--error-contains TEXT] [--limit N] [--after CURSOR] [--json] "
       "[--db CONNINFO]",
       "qg jobs ID [--json] [--db CONNINFO]"},
      absl::StrCat(
          "Lists jobs in the order workers take them, with their state and "
          "the first line\nof their last error. STATE is working (a session "
          "of this database holds the\njob's advisory lock), cancelled (by "
          "`qg cancel`; listed with --dead), dead (out\nof attempts), errored "
          "(failed, runs again at RUN_AT), scheduled or ready.\n"
          "Pages are keyset-paged: a full page ends with the --after CURSOR "
          "of the next\none. A page looks at no more than ",
          qg::kOperatorMaxScan,
          " jobs: one that stops there unfilled\nsays so, with the --after "
          "CURSOR to search on. With an ID, shows that job: args,\nlast "
          "error (each cut at ",
          qg::kShownChars,
          " characters) and who holds it.\n"
          "  --queue           only this queue (\"\" is the default queue)\n"
          "  --type            only this job type\n"
          "  --state           any, ready (due, not held), runnable (due), "
          "scheduled,\n"
          "                    working (held), errored (failed at least once, "
          "dead ones\n"
          "                    included) or dead (out of attempts); default "
          "any\n"
          "  --errored, --dead the same as --state errored / dead\n"
          "  --error-contains  only jobs whose last error contains TEXT (any "
          "case)\n"
          "  --limit           at most N jobs per page, 1..10000 (default 50)\n"
          "  --after           start after this cursor (printed by the "
          "previous page)\n"
          "  --json            JSON instead of a table (each row has its "
          "cursor)\n",
          kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
