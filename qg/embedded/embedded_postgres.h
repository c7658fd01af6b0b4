// qg/embedded/embedded_postgres.h
// -----------------------------------------------------------------------------
//
// An embedded, throwaway PostgreSQL: the server `qg demo`, the benchmarks, the
// soak and the tests boot when they are not given a database.
//
// `EmbeddedPostgres::Start()` boots a private server: its data directory is
// a copy of a cached `initdb` template that already holds the `que_jobs`
// schema (qg-cpp's additions included), it listens on an abstract unix socket
// only (no TCP, no socket file, no path length limit to mind), durability is
// off unless asked for, and it is torn down when the object is destroyed. A
// supervisor process (`/bin/sh`) owns the server and removes the data
// directory when the owning process exits, even when it is killed, so
// nothing is left behind.
//
// Run as root (a binary started by hand), the server runs as the `postgres`
// account (or `nobody`); under `bazel test --sandbox_fake_username` it runs
// as the sandbox's `nobody` directly. Tests use it through
// `qg_testing::TestDatabase` (qg/testing/test_database.h): one server per
// test binary, a fresh database per test.
//
// Errors: PostgreSQL's binaries missing → `FailedPrecondition`; a server that
// does not start → `Internal` (or `DeadlineExceeded`) with the server log's
// tail; database statements → as in qg/pg.h.
//
// Example:
//   QG_ASSIGN_OR_RETURN(std::unique_ptr<qg::EmbeddedPostgres> server,
//                       qg::EmbeddedPostgres::Start());
//   auto client = qg::Client::Create({.conninfo = server->conninfo()});
#ifndef QG_EMBEDDED_EMBEDDED_POSTGRES_H_
#define QG_EMBEDDED_EMBEDDED_POSTGRES_H_

#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/internal/sync.h"

namespace qg {

// What `EmbeddedPostgres::Start()` boots.
struct EmbeddedPostgresOptions {
  // Durable defaults (fsync, synchronous_commit, full_page_writes on).
  // Default: false (durability off: faster, fine for a throwaway server).
  bool durable = false;

  // Copy the data directory from the cached initdb template. When false, runs
  // `initdb` and applies the schema from scratch (the "cold" start, for
  // benchmarks). Default: true.
  bool use_template_cache = true;

  // Where the data directory goes. Default: "" meaning /dev/shm (tmpfs) for
  // a non-durable server, and $TMPDIR or /tmp (a real disk, so fsync costs
  // what it costs) for a durable one.
  std::string data_root;

  // Extra server settings, passed as `-c name=value`.
  // Default: none.
  std::vector<std::pair<std::string, std::string>> settings;

  // How long to wait for the server to accept connections. Default: 60s.
  absl::Duration start_timeout = absl::Seconds(60);

  // Also listen on a socket file in `base_dir()` (for clients that cannot
  // reach an abstract socket, such as PgBouncer): `socket_dir()` then names
  // that directory. Default: false (the abstract socket only).
  bool socket_file = false;

  // Also listen on 127.0.0.1, on a free port chosen at start (`tcp_port()`),
  // for TLS: PostgreSQL never uses TLS on a unix socket. Default: false.
  bool tcp = false;

  // A server certificate and its private key, PEM text: when both are set,
  // the server turns `ssl` on with them (and `tcp` is implied). The key is
  // written to a file only the server's account can read. Default: none.
  std::string tls_cert_pem;
  std::string tls_key_pem;
};

// EmbeddedPostgres
//
// A private PostgreSQL server. Thread-safe.
class EmbeddedPostgres {
 public:
  // The database of a started server that holds the `que_jobs` schema.
  static constexpr char kDatabaseName[] = "qg";
  // The never-connected database that `CreateDatabase()` clones.
  static constexpr char kTemplateDatabaseName[] = "qg_template";

  // Start()
  //
  // Boots a server. Returns `FailedPrecondition` when PostgreSQL's binaries
  // are missing (install postgresql-15: `tools/setup.sh`), `Internal` with the
  // server log's tail when it fails to start.
  static absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> Start(
      EmbeddedPostgresOptions options = {});

  // StartStandby()
  //
  // Boots a streaming hot standby of `primary`: a base backup of it
  // (`pg_basebackup -R`, WAL streamed), started with `options`' settings.
  // Give both servers the same `settings` (e.g.
  // `synchronous_standby_names=*` for synchronous replication: the primary
  // then waits for this standby on every commit, and a promoted standby
  // waits for the next one).
  static absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> StartStandby(
      const EmbeddedPostgres& primary, EmbeddedPostgresOptions options = {});

  // BinDir()
  //
  // The directory of PostgreSQL's server binaries (`initdb`, `postgres`):
  // `$QG_PG_BINDIR`, else the newest /usr/lib/postgresql/<major>/bin;
  // `FailedPrecondition` when there is none.
  static absl::StatusOr<std::string> BinDir();

  // Stops the server immediately and removes its data directory, unless
  // `QG_TESTING_KEEP_DATA=1` is set in the environment.
  ~EmbeddedPostgres();

  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;

  // conninfo()
  //
  // The conninfo of database `qg` (schema applied), e.g.
  // "host=@qgpg-1234-abcd port=5432 user=postgres dbname=qg".
  std::string conninfo() const { return ConninfoFor(kDatabaseName); }

  // The conninfo of database `dbname` on this server.
  std::string ConninfoFor(absl::string_view dbname) const;

  // CreateDatabase()
  //
  // Creates a fresh database cloned from the migrated template and returns its
  // name ("qg_test_<n>"). Safe to call from several threads.
  absl::StatusOr<std::string> CreateDatabase();

  // Drops `dbname`, terminating its sessions first.
  absl::Status DropDatabase(absl::string_view dbname);

  // Stop()
  //
  // Stops the postmaster. `immediate` is `pg_ctl stop -m immediate` (no
  // checkpoint: a crash, as far as clients can tell); otherwise a fast, clean
  // shutdown. The data directory stays until the object is destroyed, so
  // `Restart()` can bring the same data back.
  absl::Status Stop(bool immediate = true);

  // Restart()
  //
  // Starts the postmaster again on the same data directory and socket after
  // `Stop()`, waiting until it accepts connections.
  absl::Status Restart();

  // Promote()
  //
  // Promotes a standby to a primary (`pg_promote()`), waiting until it
  // accepts writes. `FailedPrecondition` when the server is not a standby.
  absl::Status Promote();

  // RebuildAsStandbyOf()
  //
  // Makes this (stopped or running) server a standby of `primary`: stops
  // it, replaces its data directory with a fresh base backup of `primary`
  // and starts it again on the same socket, as a failover brings an old
  // primary back.
  absl::Status RebuildAsStandbyOf(const EmbeddedPostgres& primary);

  // IsStandby()
  //
  // Whether the running server is in recovery (`pg_is_in_recovery()`).
  absl::StatusOr<bool> IsStandby() const;

  // The postmaster's process id (0 while stopped).
  pid_t postmaster_pid() const;
  // The directory that holds the data directory and the server log.
  const std::string& base_dir() const { return base_dir_; }
  // The data directory.
  const std::string& data_dir() const { return data_dir_; }
  // The abstract socket directory name, e.g. "@qgpg-1234-abcd".
  const std::string& socket_host() const { return host_; }
  // The server's port: 5432, or `tcp_port()` with `tcp`; the sockets are
  // named after it.
  int port() const { return tcp_port_ != 0 ? tcp_port_ : 5432; }
  // The socket file's directory with `socket_file`; empty otherwise.
  const std::string& socket_dir() const { return socket_dir_; }
  // The TCP port on 127.0.0.1 with `tcp` or TLS; 0 otherwise.
  int tcp_port() const { return tcp_port_; }
  // FailoverConninfo()
  //
  // The conninfo of database `dbname` on every server of `servers` (a
  // primary and its standbys), for libpq to connect to whichever takes
  // writes: "host=@a,@b port=5432,5432 ... target_session_attrs=read-write
  // connect_timeout=5".
  static std::string FailoverConninfo(
      const std::vector<const EmbeddedPostgres*>& servers,
      absl::string_view dbname);

  // The conninfo of database `dbname` over TCP ("host=localhost port=N
  // ..."), for TLS; empty without `tcp`.
  std::string TcpConninfoFor(absl::string_view dbname) const;

 private:
  EmbeddedPostgres() = default;
  // Builds the cached template data directory `template_dir` (initdb, the
  // schema, a clean stop), for servers started from it by copying.
  static absl::Status BuildTemplate(const std::string& bindir,
                                    const EmbeddedPostgresOptions& options,
                                    const std::string& template_dir);
  // Sets up this object's directory, socket and arguments for `options`.
  absl::Status Prepare(const std::string& root,
                       const EmbeddedPostgresOptions& options);
  absl::Status Launch(const std::string& template_dir,
                      const std::vector<std::string>& postgres_args,
                      absl::Duration timeout);
  absl::Status SendCommand(absl::string_view command);
  absl::Status WaitReady(absl::Duration timeout);
  std::string LogTail() const;

  std::string base_dir_;
  std::string data_dir_;
  std::string host_;
  std::string socket_dir_;
  int tcp_port_ = 0;
  std::vector<std::string> postgres_args_;
  absl::Duration start_timeout_;
  int command_fd_ = -1;  // supervisor's stdin
  int reply_fd_ = -1;    // supervisor's stdout
  pid_t supervisor_pid_ = 0;
  mutable internal::Mutex mu_;
  pid_t postmaster_pid_ ABSL_GUARDED_BY(mu_) = 0;
  int next_database_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace qg

#endif  // QG_EMBEDDED_EMBEDDED_POSTGRES_H_
