#include "qg/internal/pooler.h"

#include <poll.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "qg/pg.h"

namespace qg::internal {
namespace {

// How long one probe statement may wait for a server session. Longer means
// the pooler has none to lend (see below).
constexpr absl::Duration kProbeWait = absl::Seconds(2);

// Runs `sql` on `conn`, waiting at most kProbeWait: its first field, or
// nullopt when no answer came in time (then `conn` is left busy: the
// caller closes it).
absl::StatusOr<std::optional<std::string>> TimedValue(PGconn* conn,
                                                      const char* sql) {
  if (PQsendQuery(conn, sql) != 1) {
    return absl::UnavailableError(
        absl::StrCat("probing the connection: ", PQerrorMessage(conn)));
  }
  const absl::Time deadline = absl::Now() + kProbeWait;
  while (PQisBusy(conn)) {
    int ms =
        static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) return std::nullopt;
    struct pollfd p = {PQsocket(conn), POLLIN, 0};
    if (poll(&p, 1, ms) < 0 && errno != EINTR) {
      return absl::UnavailableError("probing the connection: poll failed");
    }
    if (PQconsumeInput(conn) != 1) {
      return absl::UnavailableError(
          absl::StrCat("probing the connection: ", PQerrorMessage(conn)));
    }
  }
  std::optional<std::string> value;
  absl::Status status;
  while (PGresult* raw = PQgetResult(conn)) {
    PgResult r(raw);
    if (absl::Status s = StatusFromResult(conn, r.get(), sql); !s.ok()) {
      status = s;
    } else if (!value.has_value() && r.rows() > 0) {
      value = std::string(r.Get(0, 0));
    } else if (!value.has_value()) {
      value = "";
    }
  }
  if (!status.ok()) return status;
  return value;
}

}  // namespace

absl::StatusOr<bool> BehindTransactionPooler(PGconn* conn,
                                             const std::string& conninfo) {
  // The second connection as libpq makes it, without qg::Connect's session
  // settings: behind a pooler that refuses startup options those are SET
  // statements, which would wait for a server session a full session
  // pooler has none of.
  PgConnPtr other(PQconnectdb(conninfo.c_str()));
  if (other == nullptr) return absl::ResourceExhaustedError("out of memory");
  // Without a second connection (a role's CONNECTION LIMIT, a full server)
  // the probe cannot tell: take the answer that is safe either way.
  if (PQstatus(other.get()) != CONNECTION_OK) return true;
  PQsetNoticeProcessor(
      other.get(), [](void*, const char*) {}, nullptr);
  PGconn* a = conn;
  PGconn* b = other.get();
  std::set<std::string> a_pids, b_pids;
  // Each step's backend pid; nullopt when the statement waited for a server
  // session kProbeWait in vain.
  auto pid = [](PGconn* c) { return TimedValue(c, "SELECT pg_backend_pid()"); };
  // a, then b: PgBouncer's LIFO reuse hands b the backend a just left. A
  // statement that waits in vain for a server session cannot tell a full
  // session pooler from a transaction pooler busy with other clients: the
  // answer is then the one that is safe either way (unprepared statements;
  // no worker pool, which a full pooler could not serve anyway).
  absl::StatusOr<std::optional<std::string>> p = pid(a);
  if (!p.ok()) return p.status();
  if (!p->has_value()) return true;
  a_pids.insert(**p);
  p = pid(b);
  if (!p.ok()) return p.status();
  if (!p->has_value()) return true;
  b_pids.insert(**p);
  // b holds a transaction while a runs: a waiting now has no session of its
  // own (a transaction pooler lending b the only free one). Then both run
  // again once it ends (FIFO reuse hands one the other's old backend).
  absl::StatusOr<std::optional<std::string>> begin = TimedValue(b, "BEGIN");
  if (!begin.ok()) {
    // PgBouncer's statement mode: "transaction blocks not allowed".
    // It ends the connection too, so libpq may report only that.
    if (absl::StrContains(begin.status().message(), "transaction blocks") ||
        absl::StrContains(PQerrorMessage(b), "transaction blocks") ||
        PQstatus(b) != CONNECTION_OK) {
      // Unless the server itself went away: then `a` fails too.
      absl::StatusOr<std::optional<std::string>> alive = pid(a);
      if (!alive.ok()) return alive.status();
      return true;
    }
    return begin.status();
  }
  if (!begin->has_value()) return true;
  for (auto [c, pids] : {std::pair{b, &b_pids}, std::pair{a, &a_pids}}) {
    p = pid(c);
    if (!p.ok()) return p.status();
    if (!p->has_value()) return true;  // a waiting: it has no session
    pids->insert(**p);
  }
  absl::StatusOr<std::optional<std::string>> commit = TimedValue(b, "COMMIT");
  if (!commit.ok()) return commit.status();
  for (auto [c, pids] : {std::pair{b, &b_pids}, std::pair{a, &a_pids}}) {
    p = pid(c);
    if (!p.ok()) return p.status();
    if (!p->has_value()) return true;
    pids->insert(**p);
  }
  if (a_pids.size() != 1 || b_pids.size() != 1) return true;
  return *a_pids.begin() == *b_pids.begin();
}

absl::Status RequireWritableServer(PGconn* conn, absl::string_view what) {
  auto on = [&](const char* name) {
    const char* v = PQparameterStatus(conn, name);
    return v != nullptr && absl::string_view(v) == "on";
  };
  if (on("in_hot_standby")) {
    return absl::FailedPreconditionError(absl::StrCat(
        what,
        " needs the primary, but the server is a read-only hot standby: list "
        "the primary and its standbys in the conninfo with "
        "target_session_attrs=read-write (e.g. \"host=db1,db2 "
        "target_session_attrs=read-write\")"));
  }
  if (on("default_transaction_read_only")) {
    return absl::FailedPreconditionError(absl::StrCat(
        what,
        " needs to write, but the server makes every transaction read-only "
        "(default_transaction_read_only is on)"));
  }
  return absl::OkStatus();
}

bool ServerOnThisMachine(absl::string_view conninfo) {
  std::string ci(conninfo);
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(ci.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return false;
  }
  std::string host;
  bool unsure = false;  // libpq decides from what the parse does not apply
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const absl::string_view key = o->keyword;
    if (key == "host") host = o->val;
    if (key == "hostaddr" || key == "service") unsure = true;
  }
  PQconninfoFree(opts);
  auto env = [](const char* name) {
    const char* v = getenv(name);
    return v != nullptr && *v != '\0' ? std::string(v) : std::string();
  };
  if (unsure || !env("PGHOSTADDR").empty() || !env("PGSERVICE").empty()) {
    return false;
  }
  if (host.empty()) host = env("PGHOST");
  if (host.empty()) return true;  // libpq's default socket
  for (absl::string_view h : absl::StrSplit(host, ',')) {
    // An empty entry of a list is the default socket too.
    const bool local = h.empty() || absl::StartsWith(h, "/") ||
                       absl::StartsWith(h, "@") || h == "localhost" ||
                       h == "127.0.0.1" || h == "::1";
    if (!local) return false;
  }
  return true;
}

}  // namespace qg::internal
