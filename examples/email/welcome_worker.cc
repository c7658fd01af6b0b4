// The example service's worker: works WelcomeEmail jobs until Ctrl-C.
//
//   bazel run //examples/email:welcome_worker -- --db="dbname=app" --workers=4
#include <signal.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "examples/email/signup.h"
#include "glog/logging.h"
#include "qg/client.h"
#include "qg/conninfo.h"
#include "qg/worker/worker.h"

ABSL_FLAG(std::string, db, "", "libpq conninfo; default: $DATABASE_URL");
ABSL_FLAG(int, workers, 4, "worker threads");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  std::optional<std::string> db = qg::ResolveConninfo(absl::GetFlag(FLAGS_db));
  if (!db.has_value()) {
    fprintf(stderr, "welcome_worker: pass --db or set DATABASE_URL\n");
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  int workers = absl::GetFlag(FLAGS_workers);
  auto client = qg::Client::Create({.conninfo = *db, .max_conns = workers + 1});
  if (!client.ok()) {
    fprintf(stderr, "welcome_worker: %s\n", client.status().ToString().c_str());
    return 1;
  }
  qg::WorkMap work_map;
  email_service::RegisterHandlers(work_map);
  qg::WorkerPool pool(client->get(), &work_map, workers);
  if (absl::Status s = pool.Start(); !s.ok()) {
    fprintf(stderr, "welcome_worker: %s\n", s.ToString().c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  pool.Shutdown();
  return 0;
}
