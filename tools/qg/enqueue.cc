// qg enqueue: enqueues one job and prints its id.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

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

// The args: --args TEXT, --args - (stdin) or --args-file PATH.
absl::StatusOr<std::string> ReadArgs(const std::optional<std::string>& args,
                                     const std::optional<std::string>& file) {
  if (args.has_value() && file.has_value()) {
    return absl::InvalidArgumentError("give --args or --args-file, not both");
  }
  if (file.has_value()) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("--args-file: cannot read \"", *file, "\""));
    }
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  if (args == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  return args.value_or("[]");
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
  absl::StatusOr<std::string> job_args = ReadArgs(args_text, args_file);
  if (!job_args.ok()) return job_args.status();
  o.job.args = std::move(*job_args);
  if (run_at.has_value() && in.has_value()) {
    return absl::InvalidArgumentError("give --run-at or --in, not both");
  }
  if (run_at.has_value()) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, *run_at, &t, &err)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--run-at \"", *run_at,
                       "\" is not an RFC 3339 time such as "
                       "2026-12-01T09:00:00Z: ",
                       err));
    }
    o.job.run_at = t;
  }
  if (in.has_value()) {
    absl::Duration d;
    if (!absl::ParseDuration(*in, &d) || d < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--in \"", *in, "\" is not a delay such as 90s, 5m or 1h30m"));
    }
    o.job.run_at = absl::Now() + d;
  }
  if (unique_key.has_value() && unique_key->empty()) {
    return absl::InvalidArgumentError("--unique-key needs a key");
  }
  if (flags.IsSet("unique-period") && by_period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--unique-period must be a positive duration such as 1h or 24h");
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
  if (!r.ok()) return Fail(self, r.status());
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
      "              kernel limits one command-line argument to 128 KiB)\n"
      "  --queue     queue name (default: the default queue \"\")\n"
      "  --priority  lower runs first, -32768..32767 (default 100)\n"
      "  --run-at    RFC 3339 time, e.g. 2026-12-01T09:00:00Z\n"
      "  --in        delay, e.g. 90s, 5m, 1h30m\n"
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
          std::string(kDbHelp),
      Main};
  return command;
}

}  // namespace qg_cli
