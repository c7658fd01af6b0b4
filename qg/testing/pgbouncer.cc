#include "qg/testing/pgbouncer.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libpq-fe.h"

namespace qg_testing {
namespace {

constexpr char kBinary[] = "/usr/sbin/pgbouncer";
constexpr int kPort = 6432;

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgBouncer>> PgBouncer::Start(
    const qg::EmbeddedPostgres& server, PgBouncerOptions options) {
  if (access(kBinary, X_OK) != 0) {
    return absl::FailedPreconditionError(
        "pgbouncer is not installed (/usr/sbin/pgbouncer): run "
        "tools/setup.sh");
  }
  if (server.socket_dir().empty()) {
    return absl::FailedPreconditionError(
        "PgBouncer needs a server started with "
        "EmbeddedPostgresOptions::socket_file");
  }
  auto bouncer = std::unique_ptr<PgBouncer>(new PgBouncer);
  // A short path in /dev/shm: a socket's path must fit in 108 bytes.
  std::string tmpl = "/dev/shm/qgpgb-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
  }
  chmod(tmpl.c_str(), 0777);
  bouncer->dir_ = tmpl;
  const std::string& dir = bouncer->dir_;
  std::string users;
  for (const std::string& u : options.users) {
    absl::StrAppend(&users, "\"", u, "\" \"\"\n");
  }
  if (absl::Status s = WriteText(dir + "/userlist.txt", users); !s.ok()) {
    return s;
  }
  std::string ini = absl::StrCat(
      "[databases]\n* = host=", server.socket_dir(), " port=", server.port(),
      "\n[pgbouncer]\nlisten_addr =\nlisten_port = ", kPort,
      "\nunix_socket_dir = ", dir, "\nauth_type = trust\nauth_file = ", dir,
      "/userlist.txt\npool_mode = ", options.pool_mode,
      "\ndefault_pool_size = ", options.pool_size,
      "\nmax_client_conn = 500\nlogfile = ", dir,
      "/pgbouncer.log\nignore_startup_parameters = extra_float_digits\n"
      "server_reset_query = DISCARD ALL\n",
      options.extra_settings, "\n");
  if (absl::Status s = WriteText(dir + "/pgbouncer.ini", ini); !s.ok()) {
    return s;
  }
  for (const char* f : {"/userlist.txt", "/pgbouncer.ini"}) {
    chmod((dir + f).c_str(), 0644);
  }
  std::string log = dir + "/stderr.log";
  std::string config = dir + "/pgbouncer.ini";
  pid_t pid = fork();
  if (pid < 0)
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // PgBouncer refuses to run as root.
    if (geteuid() == 0) {
      struct passwd* pw = getpwnam("postgres");
      if (pw == nullptr) pw = getpwnam("nobody");
      if (pw == nullptr || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        _exit(126);
      }
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // after setuid, which clears it
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl(kBinary, "pgbouncer", config.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  bouncer->pid_ = pid;
  std::string ping = bouncer->ConninfoFor("postgres");
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (true) {
    PGPing p = PQping(ping.c_str());
    if (p == PQPING_OK || p == PQPING_REJECT) return bouncer;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      bouncer->pid_ = 0;
      return absl::InternalError(
          absl::StrCat("pgbouncer exited at start:\n", bouncer->Log()));
    }
    if (absl::Now() > deadline) {
      return absl::InternalError(
          absl::StrCat("pgbouncer did not accept connections within 20 s:\n",
                       bouncer->Log()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

PgBouncer::~PgBouncer() {
  if (pid_ != 0) {
    kill(pid_, SIGTERM);
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

std::string PgBouncer::ConninfoFor(absl::string_view dbname,
                                   absl::string_view user) const {
  return absl::StrCat("host=", dir_, " port=", kPort, " user=", user,
                      " dbname=", dbname);
}

std::string PgBouncer::Log() const {
  std::string text;
  for (const char* f : {"/stderr.log", "/pgbouncer.log"}) {
    std::ifstream in(dir_ + f);
    std::stringstream ss;
    ss << in.rdbuf();
    text += ss.str();
  }
  if (text.size() > 4000) text = text.substr(text.size() - 4000);
  return text;
}

}  // namespace qg_testing
