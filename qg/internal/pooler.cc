#include "qg/internal/pooler.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "qg/pg.h"

namespace qg::internal {
namespace {

absl::StatusOr<std::string> BackendPid(PGconn* conn) {
  absl::StatusOr<PgResult> r = ExecSimple(conn, "SELECT pg_backend_pid()");
  if (!r.ok()) return r.status();
  return std::string(r->Get(0, 0));
}

}  // namespace

absl::StatusOr<bool> BehindTransactionPooler(PGconn* conn,
                                             const std::string& conninfo) {
  absl::StatusOr<PgConnPtr> other = Connect(conninfo);
  if (!other.ok()) return other.status();
  PGconn* a = conn;
  PGconn* b = other->get();
  std::set<std::string> a_pids, b_pids;
  auto note = [](PGconn* c, std::set<std::string>& pids) -> absl::Status {
    absl::StatusOr<std::string> pid = BackendPid(c);
    if (!pid.ok()) return pid.status();
    pids.insert(*pid);
    return absl::OkStatus();
  };
  // a, b (LIFO reuse hands b the backend a just left); then b holds a
  // transaction while a runs, and both run again once it ends (FIFO reuse
  // hands one of them the other's old backend).
  for (auto [c, pids] : {std::pair{a, &a_pids}, std::pair{b, &b_pids}}) {
    if (absl::Status s = note(c, *pids); !s.ok()) return s;
  }
  absl::StatusOr<PgResult> begin = ExecSimple(b, "BEGIN");
  if (!begin.ok()) {
    // PgBouncer's statement mode: "transaction blocks not allowed".
    if (absl::StrContains(begin.status().message(), "transaction blocks")) {
      return true;
    }
    return begin.status();
  }
  for (auto [c, pids] : {std::pair{b, &b_pids}, std::pair{a, &a_pids}}) {
    if (absl::Status s = note(c, *pids); !s.ok()) return s;
  }
  if (absl::StatusOr<PgResult> r = ExecSimple(b, "COMMIT"); !r.ok()) {
    return r.status();
  }
  for (auto [c, pids] : {std::pair{b, &b_pids}, std::pair{a, &a_pids}}) {
    if (absl::Status s = note(c, *pids); !s.ok()) return s;
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

}  // namespace qg::internal
