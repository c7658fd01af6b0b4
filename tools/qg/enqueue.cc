// qg enqueue: enqueues one job and prints its id.
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "qg/client.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"

namespace qg_cli {
namespace {

struct EnqueueOptions {
  std::string db;
  qg::NewJob job;
};

// The most args `qg enqueue` reads from a file or standard input.
constexpr size_t kMaxArgsBytes = 64 << 20;

// The args: --args TEXT, --args - (stdin) or --args-file PATH.
absl::StatusOr<std::string> ReadArgs(const std::optional<std::string>& args,
                                     const std::optional<std::string>& file) {
  if (args.has_value() && file.has_value()) {
    return absl::InvalidArgumentError("give --args or --args-file, not both");
  }
  std::string text;
  std::string from = "--args";
  if (file.has_value()) {
    absl::StatusOr<std::string> read =
        ReadInput("--args-file", *file, kMaxArgsBytes);
    if (!read.ok()) return read.status();
    text = *std::move(read);
    from = "--args-file";
  } else if (args == "-") {
    absl::StatusOr<std::string> read = ReadInput("--args", "-", kMaxArgsBytes);
    if (!read.ok()) return read.status();
    text = *std::move(read);
  } else if (args.has_value()) {
    text = *args;
  } else {
    return std::string("[]");
  }
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        from, ": no JSON (give a value such as [] or {\"id\": 1})"));
  }
  return text;
}

// `text` as --run-at: RFC 3339, within the run_ats a job may have.
absl::StatusOr<absl::Time> ParseRunAt(const std::string& text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--run-at \"", text,
                     "\" is not an RFC 3339 time such as "
                     "2026-12-01T09:00:00Z: ",
                     err));
  }
  if (t < EarliestRunAt() || t >= DeadRunAt()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--run-at \"", text,
        "\" is outside the times a job may run at: from "
        "0001-01-01T00:00:00Z up to, not including, 9999-01-01T00:00:00Z "
        "(the run_at that marks a dead job)"));
  }
  return t;
}

// `text` as --in: a finite delay from now that ends before the dead run_at.
absl::StatusOr<absl::Time> ParseIn(const std::string& text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--in \"", text,
        "\" is not a delay such as 90s, 5m or 1h30m (finite, not negative)"));
  }
  absl::Time t = absl::Now() + d;
  if (t >= DeadRunAt()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--in \"", text,
        "\" ends after 9999-01-01T00:00:00Z, the run_at that marks a dead "
        "job"));
  }
  return t;
}

absl::StatusOr<EnqueueOptions> Parse(const std::vector<std::string>& args) {
  EnqueueOptions o;
  std::optional<std::string> args_text, args_file, run_at, in;
  FlagParser flags;
  flags.String("db", &o.db);
  flags.String("type", &o.job.type);
  flags.OptionalString("args", &args_text);
  flags.OptionalString("args-file", &args_file);
  flags.String("queue", &o.job.queue);
  flags.Int("priority", &o.job.priority);
  flags.OptionalString("run-at", &run_at);
  flags.OptionalString("in", &in);
  std::optional<std::string> unique_key;
  bool by_args = false, by_queue = false;
  absl::Duration by_period = absl::ZeroDuration();
  flags.OptionalString("unique-key", &unique_key);
  flags.Bool("unique-by-args", &by_args);
  flags.Bool("unique-by-queue", &by_queue);
  flags.Duration("unique-period", &by_period);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (absl::Status s = NoArguments(positional); !s.ok()) return s;
  if (o.job.type.empty()) {
    return absl::InvalidArgumentError("--type is required");
  }
  for (auto [flag, value] :
       {std::pair{"--type", &o.job.type}, std::pair{"--queue", &o.job.queue}}) {
    if (absl::Status s = CheckText(flag, *value); !s.ok()) return s;
  }
  if (unique_key.has_value()) {
    if (absl::Status s = CheckText("--unique-key", *unique_key); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<std::string> job_args = ReadArgs(args_text, args_file);
  if (!job_args.ok()) return job_args.status();
  o.job.args = std::move(*job_args);
  if (run_at.has_value() && in.has_value()) {
    return absl::InvalidArgumentError("give --run-at or --in, not both");
  }
  if (run_at.has_value()) {
    absl::StatusOr<absl::Time> t = ParseRunAt(*run_at);
    if (!t.ok()) return t.status();
    o.job.run_at = *t;
  }
  if (in.has_value()) {
    absl::StatusOr<absl::Time> t = ParseIn(*in);
    if (!t.ok()) return t.status();
    o.job.run_at = *t;
  }
  if (unique_key.has_value() && unique_key->empty()) {
    return absl::InvalidArgumentError("--unique-key needs a key");
  }
  if (flags.IsSet("unique-period") && by_period < absl::Microseconds(1)) {
    return absl::InvalidArgumentError(
        "--unique-period must be a positive duration such as 1h or 24h (at "
        "least 1us)");
  }
  if (unique_key.has_value() || by_args || by_queue ||
      flags.IsSet("unique-period")) {
    // An explicit key, or one derived from the type and what is chosen.
    o.job.unique = qg::UniqueOpts{.key = unique_key.value_or(""),
                                  .by_queue = by_queue,
                                  .by_args = by_args,
                                  .by_period = by_period};
  }
  // Type, priority range, NUL bytes, JSON syntax, unique options: as
  // Client::Enqueue checks.
  if (absl::Status s = qg::ValidateNewJob(o.job).status(); !s.ok()) {
    return absl::InvalidArgumentError(s.message());
  }
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

int Run(const EnqueueOptions& o) {
  const Command& self = EnqueueCommand();
  absl::StatusOr<std::unique_ptr<qg::Client>> client =
      qg::Client::Create({.conninfo = o.db, .max_conns = 1});
  if (!client.ok()) return FailConnect(self, client.status());
  absl::StatusOr<qg::EnqueueResult> r = (*client)->EnqueueDetailed(o.job);
  if (!r.ok()) {
    // The library refuses a job it cannot store (what Parse() did not
    // catch): a usage mistake all the same.
    if (absl::IsInvalidArgument(r.status())) {
      return UsageError(self, r.status().message());
    }
    return Fail(self, r.status());
  }
  // stdout holds the id alone either way, for scripts.
  printf("%lld\n", static_cast<long long>(r->id));
  if (r->duplicate) {
    fflush(stdout);
    fprintf(stderr,
            "qg enqueue: %lld (duplicate: an existing job holds this unique "
            "key; nothing was inserted)\n",
            static_cast<long long>(r->id));
  }
  return kExitOk;
}

int Main(const std::vector<std::string>& args) {
  return ParseAndRun(EnqueueCommand(), args, Parse, Run);
}

}  // namespace

const Command& EnqueueCommand() {
  static const Command command{
      "enqueue",
      {"qg enqueue --type T [--args JSON | --args-file PATH | --args -] "
       "[--queue Q] [--priority P] [--run-at TIME | --in DURATION] "
       "[--unique-key K | [--unique-by-args] [--unique-by-queue] "
       "[--unique-period DURATION]] [--db CONNINFO]"},
      "Enqueues one job and prints its id. A unique job whose key an existing "
      "job holds\n(pending, scheduled, running, errored or dead) is not "
      "inserted: the existing\njob's id is printed, \"(duplicate: an "
      "existing job ...)\" is said on stderr, and\nthe exit status is 0.\n"
      "  --type      job type (Ruby Que's job_class), required\n"
      "  --args      JSON text (default []); `--args -` reads it from stdin\n"
      "  --args-file read the JSON args from a file (for large args: the\n"
      "              kernel limits one command-line argument to 128 KiB;\n"
      "              at most 64 MiB)\n"
      "  --queue     queue name (default: the default queue \"\")\n"
      "  --priority  lower runs first, -32768..32767 (default 100)\n"
      "  --run-at    RFC 3339 time, e.g. 2026-12-01T09:00:00Z, from year 1 "
      "up to,\n"
      "              not including, 9999-01-01 (the run_at of dead jobs)\n"
      "  --in        delay, e.g. 90s, 5m, 1h30m (finite, not negative)\n"
      "  --unique-key       an explicit uniqueness key (global: any type "
      "or queue)\n"
      "  --unique-by-args   derive the key from the type and the args "
      "(whitespace and\n"
      "                     member order ignored)\n"
      "  --unique-by-queue  derive it from the type and the queue (with "
      "the args if\n"
      "                     --unique-by-args too)\n"
      "  --unique-period    one job per period of run_at, e.g. 1h or 24h "
      "(UTC, from\n"
      "                     the Unix epoch), with the type (and the "
      "above)\n"
      "  Unique jobs need `qg migrate`.\n" +
          std::string(kDbHelp) +
          "Exit status: 0 enqueued (or a duplicate found), 1 a failure at run "
          "time (e.g. the\ndatabase cannot be reached), 2 a usage mistake "
          "(bad flag or value, args that\nare not JSON or cannot be read, a "
          "time out of range).\n",
      Main};
  return command;
}

}  // namespace qg_cli
