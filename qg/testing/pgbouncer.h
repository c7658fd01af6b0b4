// qg/testing/pgbouncer.h
// -----------------------------------------------------------------------------
//
// A real PgBouncer (Debian's `pgbouncer`, 1.18) in front of an embedded
// server, for tests of what works through a connection pooler. It listens
// on a socket file in a private directory, lets in (without a password) the
// users it is given, and is stopped when the object is destroyed, or killed
// when the test process dies.
//
// Example:
//   QG_ASSERT_OK_AND_ASSIGN(
//       auto bouncer, qg_testing::PgBouncer::Start(
//                         db->server(), {.pool_mode = "transaction"}));
//   auto client = qg::Client::Create({.conninfo = bouncer->ConninfoFor(
//                                         db->name())});
#ifndef QG_TESTING_PGBOUNCER_H_
#define QG_TESTING_PGBOUNCER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "qg/embedded/embedded_postgres.h"

namespace qg_testing {

// What `PgBouncer::Start()` sets up.
struct PgBouncerOptions {
  // `pool_mode`: "session", "transaction" or "statement".
  std::string pool_mode = "transaction";
  // Server sessions per database and user (`default_pool_size`).
  int pool_size = 10;
  // Users let in (auth_type trust: the name must be listed).
  std::vector<std::string> users = {"postgres"};
  // More `[pgbouncer]` settings, "name = value" lines. Default: none.
  std::string extra_settings;
};

// PgBouncer
//
// One `pgbouncer` process, run as the server's unprivileged account.
class PgBouncer {
 public:
  // Start()
  //
  // Starts PgBouncer in front of `server`, which must have been started with
  // `EmbeddedPostgresOptions::socket_file`. `FailedPrecondition` when the
  // binary is missing (install `pgbouncer`: tools/setup.sh), `Internal` with
  // its log when it does not come up.
  static absl::StatusOr<std::unique_ptr<PgBouncer>> Start(
      const qg::EmbeddedPostgres& server, PgBouncerOptions options = {});

  // Stops PgBouncer (SIGTERM, then SIGKILL) and removes its directory.
  ~PgBouncer();

  PgBouncer(const PgBouncer&) = delete;
  PgBouncer& operator=(const PgBouncer&) = delete;

  // The conninfo of database `dbname` through PgBouncer, as `user`.
  std::string ConninfoFor(absl::string_view dbname,
                          absl::string_view user = "postgres") const;

  // The tail of PgBouncer's log.
  std::string Log() const;

 private:
  PgBouncer() = default;
  std::string dir_;
  pid_t pid_ = 0;
};

}  // namespace qg_testing

#endif  // QG_TESTING_PGBOUNCER_H_
