// qg: the command-line tool of qg-cpp.
//
//   qg migrate                      create the que_jobs schema (idempotent)
//   qg enqueue --type T [...]       enqueue a job, print its id
//   qg stats [--json]               counts per queue and type
//   qg jobs [ID] [...] [--json]     list jobs, or show one
//   qg retry ID | --all-errored     make jobs runnable now
//   qg delete ID                    delete a job that is not being worked
//   qg cancel ID                    cancel a job (a running one: qg-cpp pools)
//   qg pause QUEUE, qg resume QUEUE pause a queue for qg-cpp pools, resume it
//   qg periodic [--remove NAME]     list periodic schedules, forget one
//   qg work --handler TYPE=CMD ...  work jobs by running shell commands
//   qg demo [--jobs N]              the demo, on an embedded PostgreSQL
//   qg console [--listen ADDR]      the web console (and /metrics)
//   qg grants [--apply]             the GRANTs of least-privilege roles
//
// A thin shell over the public libraries (//qg:admin, //qg:client,
// //qg/worker, //qg/console, //qg/metrics); each command is in
// tools/qg/<command>.cc. The database comes from --db or $DATABASE_URL. Exit
// codes: 0 success, 1 failure at run time, 2 a usage mistake (see `qg work
// --help` for its own).
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "glog/logging.h"
#include "tools/qg/cli.h"

namespace qg_cli {
namespace {

void PrintUsage(FILE* out) {
  fprintf(out,
          "qg: the command line of qg-cpp, a PostgreSQL job queue (Que 0.x "
          "compatible).\n\nUsage:\n");
  for (const Command* c : AllCommands()) {
    for (const std::string& form : c->usage) {
      fprintf(out, "  %s\n", form.c_str());
    }
  }
  fprintf(out,
          "\nThe database is --db=CONNINFO or $DATABASE_URL. `qg COMMAND "
          "--help` explains a command.\n");
}

bool IsHelp(const std::string& arg) {
  return arg == "--help" || arg == "-h" || arg == "help";
}

int Main(int argc, char** argv) {
  if (argc < 2 || IsHelp(argv[1])) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitUsage : kExitOk;
  }
  std::string name = argv[1];
  const Command* command = nullptr;
  for (const Command* c : AllCommands()) {
    if (c->name == name) command = c;
  }
  if (command == nullptr) {
    fprintf(stderr, "qg: unknown command \"%s\"\n\n", name.c_str());
    PrintUsage(stderr);
    return kExitUsage;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const std::string& arg : args) {
    if (arg == "--") break;
    if (arg == "--help" || arg == "-h") {
      printf("%s\n%s", UsageText(*command).c_str(), command->help.c_str());
      return kExitOk;
    }
  }
  return command->main(args);
}

}  // namespace
}  // namespace qg_cli

namespace {

// The last line of defence: no input may make qg abort (exit 134). An
// exception nothing caught (a thread that could not start, memory that ran
// out, in any thread) is said plainly and is a failure, exit 1. Commands
// check their input and limits before they get this far.
[[noreturn]] void OnTerminate() {
  std::string what = "an unknown error";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
  }
  std::string line = "qg: out of resources or an internal error: " + what +
                     " (nothing more was done)\n";
  if (write(2, line.data(), line.size()) < 0) {
    // Nothing more can be said.
  }
  _exit(qg_cli::kExitFailure);
}

}  // namespace

int main(int argc, char** argv) {
  std::set_terminate(OnTerminate);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;  // warnings and up: a failed job, a lost connection
  // No try/catch: an exception nothing caught reaches OnTerminate without
  // unwinding the stack (a half-started worker pool cannot be destroyed in
  // order).
  return qg_cli::Main(argc, argv);
}
