#include "qg/embedded/embedded_postgres.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "qg/internal/pg.h"
#include "qg/internal/sha256.h"
#include "qg/pg.h"
#include "schema/schema.h"

extern char** environ;

namespace qg {

using internal::MutexLock;
namespace {

using ::qg::internal::QuoteIdentifier;

// The supervisor: owns the postmaster, obeys one command per line on stdin,
// answers on stdout, and on "exit" or EOF (the test process died) stops the
// server and removes its directory. Runs as the unprivileged account.
constexpr char kSupervisorScript[] = R"sh(
trap '' PIPE INT
template=$1; data=$2; base=$3; keep=$4; bindir=$5; shift 5
log="$base/postgres.log"
# Held until the supervisor and the server are gone; see SweepStaleDirs().
exec 9>"$base/lock"
flock -n 9 || true
if [ -n "$template" ]; then
  if ! cp -R "$template" "$data" 2>>"$log" || ! chmod 700 "$data"; then
    echo "error copying the template data directory"
    [ "$keep" = 1 ] || rm -rf "$base"
    exit 1
  fi
fi
pid=
start() {
  "$bindir/postgres" -D "$data" "$@" </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "pid $pid"
}
stop() {
  if [ -n "$pid" ]; then
    kill -"$1" "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
  fi
}
start "$@"
while read -r cmd; do
  case "$cmd" in
    stop-immediate) stop QUIT; echo stopped ;;
    stop-fast) stop INT; echo stopped ;;
    start) start "$@" ;;
    *) break ;;
  esac
done
stop QUIT
[ "$keep" = 1 ] || rm -rf "$base"
echo exited
)sh";

struct RunAsUser {
  bool drop = false;  // running as root: switch to uid/gid
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

const RunAsUser& TargetUser() {
  static const RunAsUser* user = [] {
    auto* u = new RunAsUser;
    if (geteuid() != 0) return u;
    for (const char* name : {"postgres", "nobody"}) {
      struct passwd* pw = getpwnam(name);
      if (pw != nullptr) {
        u->drop = true;
        u->uid = pw->pw_uid;
        u->gid = pw->pw_gid;
        u->name = name;
        break;
      }
    }
    return u;
  }();
  return *user;
}

// In a forked child: leave root for the target account. Async-signal-safe.
void DropPrivilegesInChild() {
  const RunAsUser& u = TargetUser();
  if (!u.drop) return;
  if (setgroups(0, nullptr) != 0 || setgid(u.gid) != 0 || setuid(u.uid) != 0) {
    _exit(126);
  }
}

void CloseInheritedFds() {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3, ~0U, 0) == 0) return;
#endif
  for (int fd = 3; fd < 4096; ++fd) close(fd);
}

absl::Status ChownToTarget(const std::string& path) {
  const RunAsUser& u = TargetUser();
  if (!u.drop) return absl::OkStatus();
  if (chown(path.c_str(), u.uid, u.gid) != 0) {
    return absl::InternalError(
        absl::StrCat("chown ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

// Runs `args` as the target account, output appended to `log`; returns its
// exit status.
absl::Status RunAsTarget(std::vector<std::string> args,
                         const std::string& log) {
  std::vector<char*> argv = Argv(args);
  pid_t pid = fork();
  if (pid < 0)
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    DropPrivilegesInChild();
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (null >= 0) dup2(null, 0);
    CloseInheritedFds();
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  return absl::InternalError(
      absl::StrCat(args[0], " failed (status ", status, "): ", ss.str()));
}

std::string RandomSuffix() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  uint64_t x = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ counter++;
  return absl::StrCat(getpid(), "-", absl::Hex(x & 0xffffffffff));
}

// A new private directory under `parent`, owned by the target account.
absl::StatusOr<std::string> MakeTempDir(const std::string& parent,
                                        absl::string_view prefix) {
  std::string tmpl = absl::StrCat(parent, "/", prefix, "XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("mkdtemp ", tmpl, ": ", strerror(errno)));
  }
  chmod(tmpl.c_str(), 0755);
  if (absl::Status s = ChownToTarget(tmpl); !s.ok()) return s;
  return tmpl;
}

// Where data directories go: /dev/shm (tmpfs: copying the template there is
// ~8x faster than to ext4), else $TEST_TMPDIR/$TMPDIR, else /tmp. Running as
// root, only a place the unprivileged account can reach.
std::string TempRoot(bool durable = false) {
  const char* v = getenv("QG_PG_DATA_ROOT");
  if (v != nullptr && *v != '\0') return v;
  if (!durable && access("/dev/shm", W_OK) == 0) return "/dev/shm";
  if (!TargetUser().drop) {
    for (const char* var : {"TEST_TMPDIR", "TMPDIR"}) {
      const char* v = getenv(var);
      if (v != nullptr && *v != '\0' && access(v, W_OK) == 0) return v;
    }
  }
  return "/tmp";
}

// Removes data directories whose supervisor is gone without cleaning up
// (only possible when the whole process tree was SIGKILLed at once, as a
// sandbox does on a timeout). A live supervisor holds an flock on `lock`.
void SweepStaleDirs(const std::string& root) {
  DIR* d = opendir(root.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (struct dirent* e = readdir(d)) {
    if (strncmp(e->d_name, "qgpg-", 5) != 0) continue;
    std::string dir = absl::StrCat(root, "/", e->d_name);
    std::string lock = dir + "/lock";
    struct stat st;
    // A directory being set up has an unlocked lock file for a moment:
    // only a lock file older than a minute can be stale.
    if (stat(lock.c_str(), &st) != 0 || time(nullptr) - st.st_mtime < 60) {
      continue;
    }
    int fd = open(lock.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // not ours
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) stale.push_back(dir);
    close(fd);
  }
  closedir(d);
  for (const std::string& dir : stale) {
    LOG(WARNING) << "removing stale test PostgreSQL directory " << dir;
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
}

std::string CacheRoot() {
  const char* v = getenv("QG_PG_CACHE_DIR");
  std::string root = (v != nullptr && *v != '\0') ? v : "/tmp/qg-pg-cache";
  if (mkdir(root.c_str(), 01777) == 0) chmod(root.c_str(), 01777);
  return root;
}

bool KeepData() {
  const char* v = getenv("QG_TESTING_KEEP_DATA");
  return v != nullptr && std::string(v) == "1";
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// True when `pid` is gone or a zombie (its supervisor has not reaped it yet).
bool ProcessDead(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  if (!std::getline(in, stat)) return true;
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ||
         stat[paren + 2] == 'Z' || stat[paren + 2] == 'X';
}

// The server settings: a private abstract socket (and, when asked, a socket
// file in `socket_dir` and 127.0.0.1 on `tcp_port`, with TLS from the files
// in `tls_dir`), sizes for many test clients, durability off unless asked.
std::vector<std::string> PostgresArgs(const EmbeddedPostgresOptions& options,
                                      const std::string& host,
                                      const std::string& socket_dir,
                                      int tcp_port,
                                      const std::string& tls_dir) {
  std::vector<std::pair<std::string, std::string>> settings = {
      {"listen_addresses", tcp_port != 0 ? "127.0.0.1" : ""},
      {"unix_socket_directories",
       socket_dir.empty() ? host : absl::StrCat(host, ",", socket_dir)},
      {"max_connections", "300"},
      {"max_locks_per_transaction", "256"},
      {"shared_buffers", "64MB"},
      {"log_min_messages", "warning"},
      {"log_min_error_statement", "panic"},
      {"logging_collector", "off"},
      {"TimeZone", "UTC"},
      // Enough WAL for a standby's base backup to catch up from.
      {"wal_keep_size", "64MB"},
  };
  if (tcp_port != 0) settings.push_back({"port", absl::StrCat(tcp_port)});
  if (!tls_dir.empty()) {
    settings.push_back({"ssl", "on"});
    settings.push_back({"ssl_cert_file", tls_dir + "/server.crt"});
    settings.push_back({"ssl_key_file", tls_dir + "/server.key"});
  }
  if (!options.durable) {
    settings.push_back({"fsync", "off"});
    // synchronous_commit stays on: with fsync off a commit costs a write(),
    // and committed rows survive an immediate stop (crash tests need that).
    settings.push_back({"full_page_writes", "off"});
  }
  for (const auto& s : options.settings) settings.push_back(s);
  std::vector<std::string> args;
  for (const auto& [k, v] : settings) {
    args.push_back("-c");
    args.push_back(absl::StrCat(k, "=", v));
  }
  return args;
}

// A TCP port on 127.0.0.1 that nothing listens on now.
absl::StatusOr<int> FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("bind: ", strerror(errno)));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

// Writes `text` to `path`, readable by the server's account only.
absl::Status WritePrivateFile(const std::string& path,
                              const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("open ", path, ": ", strerror(errno)));
  }
  bool ok =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("write ", path));
  return ChownToTarget(path);
}

// Creates qg_template (schema applied) and qg (its clone) on a new cluster.
absl::Status ApplySchema(const EmbeddedPostgres& server) {
  auto admin = Connect(server.ConninfoFor("postgres"));
  if (!admin.ok()) return admin.status();
  if (auto r = ExecSimple(
          admin->get(), absl::StrCat("CREATE DATABASE ",
                                     EmbeddedPostgres::kTemplateDatabaseName));
      !r.ok()) {
    return r.status();
  }
  {
    auto tmpl =
        Connect(server.ConninfoFor(EmbeddedPostgres::kTemplateDatabaseName));
    if (!tmpl.ok()) return tmpl.status();
    for (const char* sql : {schema::kQueJobsSql, schema::kQgAdditionsSql}) {
      if (auto r = ExecSimple(tmpl->get(), sql); !r.ok()) return r.status();
    }
  }
  if (auto r = ExecSimple(
          admin->get(),
          absl::StrCat("CREATE DATABASE ", EmbeddedPostgres::kDatabaseName,
                       " TEMPLATE ", EmbeddedPostgres::kTemplateDatabaseName));
      !r.ok()) {
    return r.status();
  }
  return absl::OkStatus();
}

// A key for the template cache: the server version, the schema and the
// initdb arguments decide what a template holds.
std::string TemplateKey(const std::string& bindir,
                        const std::vector<std::string>& initdb_args) {
  std::string material = absl::StrCat(bindir, "|", schema::kQueJobsSql, "|",
                                      absl::StrJoin(initdb_args, " "), "|",
                                      schema::kQgAdditionsSql, "|v2");
  // A stable digest: every process, whatever its build, must agree on the
  // name (std::hash may differ between standard libraries and runs).
  return absl::StrCat("template-", internal::Sha256Hex(material).substr(0, 16));
}

std::vector<std::string> InitdbArgs(const std::string& bindir,
                                    const std::string& data) {
  return {bindir + "/initdb",
          "-D",
          data,
          "-A",
          "trust",
          "-U",
          "postgres",
          "--no-sync",
          "-E",
          "UTF8",
          "--locale=C",
          "--wal-segsize=1",
          "--no-instructions"};
}

}  // namespace

absl::StatusOr<std::string> EmbeddedPostgres::BinDir() {
  const char* env = getenv("QG_PG_BINDIR");
  if (env != nullptr && *env != '\0') return std::string(env);
  int best = -1;
  if (DIR* d = opendir("/usr/lib/postgresql")) {
    while (struct dirent* e = readdir(d)) {
      int major = 0;
      if (absl::SimpleAtoi(e->d_name, &major) && major > best &&
          FileExists(
              absl::StrCat("/usr/lib/postgresql/", major, "/bin/postgres"))) {
        best = major;
      }
    }
    closedir(d);
  }
  if (best < 0) {
    return absl::FailedPreconditionError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql "
        "(install postgresql-15, e.g. with tools/setup.sh, or set "
        "QG_PG_BINDIR)");
  }
  return absl::StrCat("/usr/lib/postgresql/", best, "/bin");
}

absl::Status EmbeddedPostgres::BuildTemplate(
    const std::string& bindir, const EmbeddedPostgresOptions& options,
    const std::string& template_dir) {
  // A cold server in a private directory of the cache, stopped cleanly, then
  // renamed into place atomically. A process that loses the race to another
  // builder throws its copy away.
  EmbeddedPostgresOptions cold = options;
  cold.use_template_cache = false;
  cold.durable = false;
  cold.settings.clear();
  auto builder = MakeTempDir(CacheRoot(), "building-");
  if (!builder.ok()) return builder.status();
  // The builder's supervisor removes the rest of its directory.
  auto server = std::unique_ptr<EmbeddedPostgres>(new EmbeddedPostgres);
  server->base_dir_ = *builder;
  server->data_dir_ = *builder + "/data";
  server->host_ = absl::StrCat("@qgpg-", RandomSuffix());
  server->start_timeout_ = options.start_timeout;
  if (absl::Status s = RunAsTarget(InitdbArgs(bindir, server->data_dir_),
                                   *builder + "/initdb.log");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          server->Launch("", PostgresArgs(cold, server->host_, "", 0, ""),
                         options.start_timeout);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ApplySchema(*server); !s.ok()) return s;
  if (absl::Status s = server->Stop(/*immediate=*/false); !s.ok()) return s;
  if (absl::Status s =
          RunAsTarget({"/bin/chmod", "-R", "go+rX", server->data_dir_},
                      *builder + "/chmod.log");
      !s.ok()) {
    return s;
  }
  if (rename(server->data_dir_.c_str(), template_dir.c_str()) != 0 &&
      errno != EEXIST && errno != ENOTEMPTY) {
    return absl::InternalError(absl::StrCat("rename ", server->data_dir_,
                                            " -> ", template_dir, ": ",
                                            strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> EmbeddedPostgres::Start(
    EmbeddedPostgresOptions options) {
  auto bindir = BinDir();
  if (!bindir.ok()) return bindir.status();
  std::string template_dir;
  if (options.use_template_cache) {
    std::string key = TemplateKey(*bindir, InitdbArgs(*bindir, ""));
    template_dir = absl::StrCat(CacheRoot(), "/", key);
    if (!FileExists(template_dir + "/PG_VERSION")) {  // built once
      if (absl::Status s = BuildTemplate(*bindir, options, template_dir);
          !s.ok()) {
        return s;
      }
    }
  }
  auto server = std::unique_ptr<EmbeddedPostgres>(new EmbeddedPostgres);
  std::string root =
      options.data_root.empty() ? TempRoot(options.durable) : options.data_root;
  if (absl::Status s = server->Prepare(root, options); !s.ok()) return s;
  const std::string& base = server->base_dir_;
  if (!options.use_template_cache) {
    if (absl::Status s = RunAsTarget(InitdbArgs(*bindir, server->data_dir_),
                                     base + "/initdb.log");
        !s.ok()) {
      // Nothing is running yet; remove the directory ourselves.
      RunAsTarget({"/bin/rm", "-rf", base}, "/dev/null").IgnoreError();
      return s;
    }
  }
  if (absl::Status s = server->Launch(template_dir, server->postgres_args_,
                                      options.start_timeout);
      !s.ok()) {
    return s;
  }
  if (!options.use_template_cache) {
    if (absl::Status s = ApplySchema(*server); !s.ok()) return s;
  }
  return server;
}

absl::Status EmbeddedPostgres::Prepare(const std::string& root,
                                       const EmbeddedPostgresOptions& options) {
  SweepStaleDirs(root);
  auto base = MakeTempDir(root, "qgpg-");
  if (!base.ok()) return base.status();
  base_dir_ = *base;
  data_dir_ = *base + "/data";
  host_ = absl::StrCat("@qgpg-", RandomSuffix());
  start_timeout_ = options.start_timeout;
  if (options.socket_file) socket_dir_ = base_dir_;
  const bool tls =
      !options.tls_cert_pem.empty() || !options.tls_key_pem.empty();
  if (tls && (options.tls_cert_pem.empty() || options.tls_key_pem.empty())) {
    return absl::InvalidArgumentError(
        "EmbeddedPostgresOptions: TLS needs both tls_cert_pem and tls_key_pem");
  }
  if (options.tcp || tls) {
    absl::StatusOr<int> port = FreeTcpPort();
    if (!port.ok()) return port.status();
    tcp_port_ = *port;
  }
  std::string tls_dir;
  if (tls) {
    tls_dir = base_dir_;
    for (const auto& [name, text] :
         {std::pair{"/server.crt", &options.tls_cert_pem},
          std::pair{"/server.key", &options.tls_key_pem}}) {
      if (absl::Status s = WritePrivateFile(tls_dir + name, *text); !s.ok()) {
        return s;
      }
    }
  }
  postgres_args_ =
      PostgresArgs(options, host_, socket_dir_, tcp_port_, tls_dir);
  return absl::OkStatus();
}

namespace {

// `pg_basebackup` of `primary` into `data_dir`, set up to stream from it.
absl::Status BaseBackup(const EmbeddedPostgres& primary,
                        const std::string& data_dir, const std::string& log) {
  absl::StatusOr<std::string> bindir = EmbeddedPostgres::BinDir();
  if (!bindir.ok()) return bindir.status();
  return RunAsTarget({*bindir + "/pg_basebackup", "-D", data_dir, "-d",
                      primary.ConninfoFor("postgres"), "-X", "stream", "-R",
                      "--checkpoint=fast", "--no-sync"},
                     log);
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedPostgres>>
EmbeddedPostgres::StartStandby(const EmbeddedPostgres& primary,
                               EmbeddedPostgresOptions options) {
  auto server = std::unique_ptr<EmbeddedPostgres>(new EmbeddedPostgres);
  std::string root =
      options.data_root.empty() ? TempRoot(options.durable) : options.data_root;
  if (absl::Status s = server->Prepare(root, options); !s.ok()) return s;
  if (absl::Status s = BaseBackup(primary, server->data_dir_,
                                  server->base_dir_ + "/basebackup.log");
      !s.ok()) {
    RunAsTarget({"/bin/rm", "-rf", server->base_dir_}, "/dev/null")
        .IgnoreError();
    return s;
  }
  if (absl::Status s =
          server->Launch("", server->postgres_args_, options.start_timeout);
      !s.ok()) {
    return s;
  }
  return server;
}

absl::Status EmbeddedPostgres::Promote() {
  auto conn = Connect(ConninfoFor("postgres"));
  if (!conn.ok()) return conn.status();
  auto recovery = ExecSimple(conn->get(), "SELECT pg_is_in_recovery()");
  if (!recovery.ok()) return recovery.status();
  if (recovery->Get(0, 0) != "t") {
    return absl::FailedPreconditionError("Promote(): the server is no standby");
  }
  auto r = ExecSimple(conn->get(), "SELECT pg_promote(true, 60)");
  if (!r.ok()) return r.status();
  if (r->Get(0, 0) != "t") {
    return absl::DeadlineExceededError(
        absl::StrCat("the standby was not promoted within 60 s:\n", LogTail()));
  }
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::RebuildAsStandbyOf(
    const EmbeddedPostgres& primary) {
  if (absl::Status s = Stop(/*immediate=*/true); !s.ok()) return s;
  if (absl::Status s = RunAsTarget({"/bin/rm", "-rf", data_dir_},
                                   base_dir_ + "/rebuild.log");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          BaseBackup(primary, data_dir_, base_dir_ + "/basebackup.log");
      !s.ok()) {
    return s;
  }
  return Restart();
}

absl::StatusOr<bool> EmbeddedPostgres::IsStandby() const {
  auto conn = Connect(ConninfoFor("postgres"));
  if (!conn.ok()) return conn.status();
  auto r = ExecSimple(conn->get(), "SELECT pg_is_in_recovery()");
  if (!r.ok()) return r.status();
  return r->Get(0, 0) == "t";
}

absl::Status EmbeddedPostgres::Launch(const std::string& template_dir,
                                      const std::vector<std::string>& pg_args,
                                      absl::Duration timeout) {
  auto bindir = BinDir();
  if (!bindir.ok()) return bindir.status();
  std::vector<std::string> args = {
      "/bin/sh",    "-c",      kSupervisorScript, "qg-pg-supervisor",
      template_dir, data_dir_, base_dir_,         KeepData() ? "1" : "0",
      *bindir};
  args.insert(args.end(), pg_args.begin(), pg_args.end());
  std::vector<char*> argv = Argv(args);

  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", strerror(errno)));
  }
  pid_t pid = fork();
  if (pid < 0)
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // Own session: a Ctrl-C meant for the test must not reach the server.
    setsid();
    DropPrivilegesInChild();
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 2);
    CloseInheritedFds();
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  supervisor_pid_ = pid;
  command_fd_ = to_child[1];
  reply_fd_ = from_child[0];
  return WaitReady(timeout);
}

namespace {

// Reads one line from `fd` within `timeout`.
absl::StatusOr<std::string> ReadLine(int fd, absl::Duration timeout) {
  std::string line;
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int ms =
        static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) return absl::DeadlineExceededError("supervisor timed out");
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char c;
    ssize_t r = read(fd, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return absl::InternalError("supervisor exited");
    if (c == '\n') return line;
    line.push_back(c);
  }
}

}  // namespace

absl::Status EmbeddedPostgres::WaitReady(absl::Duration timeout) {
  auto line = ReadLine(reply_fd_, timeout);
  pid_t pid = 0;
  absl::string_view rest = line.ok() ? absl::string_view(*line) : "";
  if (!line.ok() || !absl::ConsumePrefix(&rest, "pid ") ||
      !absl::SimpleAtoi(rest, &pid)) {
    return absl::InternalError(absl::StrCat(
        "PostgreSQL supervisor failed: ",
        line.ok() ? *line : line.status().ToString(), "\n", LogTail()));
  }
  {
    MutexLock lock(mu_);
    postmaster_pid_ = pid;
  }
  std::string ping = ConninfoFor("postgres");
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration wait = absl::Microseconds(500);
  while (true) {
    if (PQping(ping.c_str()) == PQPING_OK) return absl::OkStatus();
    if (ProcessDead(pid)) {
      return absl::InternalError(
          absl::StrCat("PostgreSQL exited during start-up:\n", LogTail()));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("PostgreSQL did not accept connections within ",
                       absl::FormatDuration(timeout), ":\n", LogTail()));
    }
    absl::SleepFor(wait);
    wait = std::min(wait * 2, absl::Milliseconds(10));
  }
}

absl::Status EmbeddedPostgres::SendCommand(absl::string_view command) {
  std::string line = absl::StrCat(command, "\n");
  if (write(command_fd_, line.data(), line.size()) !=
      static_cast<ssize_t>(line.size())) {
    return absl::InternalError(
        absl::StrCat("cannot talk to the supervisor: ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::Stop(bool immediate) {
  {
    MutexLock lock(mu_);
    if (postmaster_pid_ == 0) return absl::OkStatus();
  }
  if (absl::Status s = SendCommand(immediate ? "stop-immediate" : "stop-fast");
      !s.ok()) {
    return s;
  }
  auto line = ReadLine(reply_fd_, absl::Minutes(2));
  if (!line.ok() || *line != "stopped") {
    return absl::InternalError(
        absl::StrCat("stopping PostgreSQL failed: ",
                     line.ok() ? *line : line.status().ToString()));
  }
  MutexLock lock(mu_);
  postmaster_pid_ = 0;
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::Restart() {
  {
    MutexLock lock(mu_);
    if (postmaster_pid_ != 0) {
      return absl::FailedPreconditionError("server is running; Stop() first");
    }
  }
  if (absl::Status s = SendCommand("start"); !s.ok()) return s;
  return WaitReady(start_timeout_);
}

pid_t EmbeddedPostgres::postmaster_pid() const {
  MutexLock lock(mu_);
  return postmaster_pid_;
}

EmbeddedPostgres::~EmbeddedPostgres() {
  if (supervisor_pid_ == 0) return;
  // "exit": stop immediately and remove the directory; then wait for it.
  SendCommand("exit").IgnoreError();
  close(command_fd_);
  int status;
  while (waitpid(supervisor_pid_, &status, 0) < 0 && errno == EINTR) {
  }
  close(reply_fd_);
  if (KeepData()) {
    LOG(INFO) << "QG_TESTING_KEEP_DATA=1: kept PostgreSQL data in "
              << data_dir_;
  }
}

std::string EmbeddedPostgres::ConninfoFor(absl::string_view dbname) const {
  return absl::StrCat("host=", host_, " port=", port(),
                      " user=postgres dbname=", dbname);
}

std::string EmbeddedPostgres::FailoverConninfo(
    const std::vector<const EmbeddedPostgres*>& servers,
    absl::string_view dbname) {
  std::vector<std::string> hosts, ports;
  for (const EmbeddedPostgres* s : servers) {
    hosts.push_back(s->socket_host());
    ports.push_back(absl::StrCat(s->port()));
  }
  return absl::StrCat("host=", absl::StrJoin(hosts, ","),
                      " port=", absl::StrJoin(ports, ","),
                      " user=postgres dbname=", dbname,
                      " target_session_attrs=read-write connect_timeout=5");
}

std::string EmbeddedPostgres::TcpConninfoFor(absl::string_view dbname) const {
  if (tcp_port_ == 0) return "";
  return absl::StrCat("host=localhost port=", tcp_port_,
                      " user=postgres dbname=", dbname);
}

absl::StatusOr<std::string> EmbeddedPostgres::CreateDatabase() {
  std::string name;
  {
    MutexLock lock(mu_);
    name = absl::StrCat("qg_test_", ++next_database_);
  }
  auto admin = Connect(ConninfoFor("postgres"));
  if (!admin.ok()) return admin.status();
  if (auto r = ExecSimple(
          admin->get(), absl::StrCat("CREATE DATABASE ", QuoteIdentifier(name),
                                     " TEMPLATE ", kTemplateDatabaseName));
      !r.ok()) {
    return r.status();
  }
  return name;
}

absl::Status EmbeddedPostgres::DropDatabase(absl::string_view dbname) {
  auto admin = Connect(ConninfoFor("postgres"));
  if (!admin.ok()) return admin.status();
  return ExecSimple(admin->get(),
                    absl::StrCat("DROP DATABASE IF EXISTS ",
                                 QuoteIdentifier(dbname), " WITH (FORCE)"))
      .status();
}

std::string EmbeddedPostgres::LogTail() const {
  std::ifstream in(base_dir_ + "/postgres.log");
  std::vector<std::string> lines;
  std::string l;
  while (std::getline(in, l)) lines.push_back(l);
  size_t from = lines.size() > 20 ? lines.size() - 20 : 0;
  return absl::StrJoin(lines.begin() + from, lines.end(), "\n");
}

}  // namespace qg
