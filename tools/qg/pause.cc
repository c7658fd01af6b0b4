// qg pause, qg resume: pause a queue for qg-cpp worker pools, or resume it.
// The two commands share everything but the direction, so they share a file.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qg/admin.h"
#include "tools/qg/cli.h"
#include "tools/qg/flags.h"
#include "tools/qg/output.h"

namespace qg_cli {
namespace {

struct PauseOptions {
  std::string db;
  std::string queue;
};

absl::StatusOr<PauseOptions> Parse(const std::vector<std::string>& args) {
  PauseOptions o;
  FlagParser flags;
  flags.String("db", &o.db);
  std::vector<std::string> positional;
  if (absl::Status s = flags.Parse(args, &positional); !s.ok()) return s;
  if (positional.size() != 1) {
    return absl::InvalidArgumentError(
        positional.empty()
            ? "expected a queue name"
            : absl::StrCat("unexpected argument \"", positional[1], "\""));
  }
  o.queue = positional[0];
  if (o.queue.empty()) {
    return absl::InvalidArgumentError(
        "a queue name is required (the default queue \"\" cannot be paused "
        "by name)");
  }
  if (absl::Status s = CheckText("queue name", o.queue); !s.ok()) return s;
  if (absl::Status s = ResolveDb(o.db); !s.ok()) return s;
  return o;
}

int Run(const Command& self, const PauseOptions& o, bool pause) {
  absl::StatusOr<std::unique_ptr<qg::Admin>> admin = ConnectAdmin(o.db);
  if (!admin.ok()) return FailConnect(self, admin.status());
  // Only to say whether anything changed; the change itself is idempotent.
  absl::StatusOr<std::vector<std::string>> before = (*admin)->PausedQueues();
  if (!before.ok()) return Fail(self, before.status());
  bool was_paused =
      std::find(before->begin(), before->end(), o.queue) != before->end();
  absl::Status s =
      pause ? (*admin)->PauseQueue(o.queue) : (*admin)->ResumeQueue(o.queue);
  if (!s.ok()) return Fail(self, s);
  std::string name = JsonString(o.queue);
  if (pause) {
    printf(
        "queue %s paused%s: qg-cpp worker pools lock no new job of it within "
        "about a second; running jobs finish. Ruby Que, que-go and qg workers "
        "do not know of pauses and keep working it.\n",
        name.c_str(), was_paused ? " (it was paused already)" : "");
  } else {
    printf("queue %s resumed%s\n", name.c_str(),
           was_paused ? "" : " (it was not paused)");
  }
  return kExitOk;
}

int RunPause(const PauseOptions& o) {
  return Run(PauseCommand(), o, /*pause=*/true);
}

int RunResume(const PauseOptions& o) {
  return Run(ResumeCommand(), o, /*pause=*/false);
}

int PauseMain(const std::vector<std::string>& args) {
  return ParseAndRun(PauseCommand(), args, Parse, RunPause);
}

int ResumeMain(const std::vector<std::string>& args) {
  return ParseAndRun(ResumeCommand(), args, Parse, RunResume);
}

}  // namespace

const Command& PauseCommand() {
  static const Command command{
      "pause",
      {"qg pause QUEUE [--db CONNINFO]"},
      "Pauses QUEUE for qg-cpp worker pools: within about a second they lock "
      "no new job\nof it and give back jobs they locked ahead; running jobs "
      "finish. The state is\nkept in the database (qg_queues), so it "
      "survives restarts, until\n`qg resume QUEUE`; `qg stats` lists paused "
      "queues. Ruby Que, que-go and qg\nworkers do not know of pauses and "
      "keep working the queue: a pause holds only\nwhere every worker of "
      "the queue is qg-cpp. Needs `qg migrate`.\n" +
          std::string(kDbHelp) +
          "Exit status: 0 paused, 1 a failure, 2 a usage mistake (no queue "
          "name, or the\nempty name of the default queue).\n",
      PauseMain};
  return command;
}

const Command& ResumeCommand() {
  static const Command command{
      "resume",
      {"qg resume QUEUE [--db CONNINFO]"},
      "Resumes QUEUE after `qg pause`: qg-cpp worker pools take its jobs again "
      "within\nabout a second.\n" +
          std::string(kDbHelp) +
          "Exit status: 0 resumed (or was not paused), 1 a failure, 2 a usage "
          "mistake (no\nqueue name, or an empty one).\n",
      ResumeMain};
  return command;
}

}  // namespace qg_cli
