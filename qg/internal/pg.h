// qg/internal/pg.h
// -----------------------------------------------------------------------------
//
// Thin RAII and error helpers over libpq, shared by the qg library, the test
// harness and the tools. Not a public API: visible to //qg/... and //tools/...
// only.
//
// Example:
//   QG_ASSIGN_OR_RETURN(qg::internal::ConnPtr conn,
//                       qg::internal::Connect("dbname=app"));
//   QG_ASSIGN_OR_RETURN(qg::internal::Result r,
//                       qg::internal::Exec(conn.get(), "SELECT $1::int + 1",
//                       {"41"}));
//   r.Get(0, 0);  // "42"
#ifndef QG_INTERNAL_PG_H_
#define QG_INTERNAL_PG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libpq-fe.h"
#include "qg/conninfo.h"

namespace qg::internal {

struct PGconnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
// An owned libpq connection; `PQfinish` on destruction.
using ConnPtr = std::unique_ptr<PGconn, PGconnDeleter>;

// A query parameter in text format; `std::nullopt` is SQL NULL.
using Param = std::optional<std::string>;
using Params = std::vector<Param>;

// An owned `PGresult` with accessors that say what they expect.
class Result {
 public:
  Result() = default;
  explicit Result(PGresult* res) : res_(res) {}

  int rows() const { return res_ ? PQntuples(res_.get()) : 0; }
  int cols() const { return res_ ? PQnfields(res_.get()) : 0; }
  bool IsNull(int row, int col) const {
    return PQgetisnull(res_.get(), row, col) != 0;
  }
  // The text of a field; empty for NULL.
  absl::string_view Get(int row, int col) const {
    return absl::string_view(PQgetvalue(res_.get(), row, col),
                             PQgetlength(res_.get(), row, col));
  }
  // The text of a field, or `std::nullopt` for NULL.
  std::optional<std::string> GetOptional(int row, int col) const {
    if (IsNull(row, col)) return std::nullopt;
    return std::string(Get(row, col));
  }
  // The affected-row count of an INSERT/UPDATE/DELETE (0 when unknown).
  int64_t AffectedRows() const;
  PGresult* get() const { return res_.get(); }

 private:
  struct Deleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Deleter> res_;
};

// The payload URL under which database errors carry their SQLSTATE.
inline constexpr char kSqlStatePayload[] = "qg.sqlstate";

// Returns the SQLSTATE carried by `status` (e.g. "40001"), or "" if none.
std::string SqlState(const absl::Status& status);

// Opens a connection. Bad conninfo → `InvalidArgument`; server unreachable →
// `Unavailable`; bad credentials → `PermissionDenied`. The message never
// contains a secret (see `RedactConninfo`). The session settings qg-cpp
// parses by are forced whatever the database's defaults: TimeZone=UTC,
// DateStyle=ISO,YMD, IntervalStyle=postgres, extra_float_digits=3,
// client_encoding=UTF8. Unless the conninfo says otherwise, connecting gives
// up after 10 s and TCP keepalives notice a dead peer within about a minute.
absl::StatusOr<ConnPtr> Connect(absl::string_view conninfo);

// Runs `sql` with text parameters (`PQexecParams`). A parameter holding a
// NUL byte is rejected with `InvalidArgument` before any SQL. Errors name the
// statement (`StatementLabel`).
absl::StatusOr<Result> Exec(PGconn* conn, absl::string_view sql,
                            const Params& params = {});
// Runs `sql` without parameters through the simple query protocol
// (`PQexec`): several statements separated by ';' are allowed.
absl::StatusOr<Result> ExecSimple(PGconn* conn, absl::string_view sql);

// How errors name an unnamed statement: its first 60 characters with
// whitespace collapsed, e.g. `query "SELECT count(*) FROM que_jobs"`.
std::string StatementLabel(absl::string_view sql);

// Prepares `sql` under `name` on `conn`.
absl::Status Prepare(PGconn* conn, const char* name, const char* sql);

// Runs the prepared statement `name`.
absl::StatusOr<Result> ExecPrepared(PGconn* conn, const char* name,
                                    const Params& params);

// Turns a finished result into a status: OK for success, else a status whose
// code follows the SQLSTATE (connection loss → `Unavailable`; serialization
// failure or deadlock → `Aborted`; undefined table → `FailedPrecondition`;
// data errors → `InvalidArgument`; ...) with the SQLSTATE as payload.
absl::Status StatusFromResult(PGconn* conn, const PGresult* res,
                              absl::string_view context);

// Checks that no parameter contains a NUL byte (PostgreSQL text cannot).
absl::Status CheckNoNul(absl::string_view what, absl::string_view value);

// Timestamps as PostgreSQL text in UTC with microseconds:
// "2026-11-29 06:00:00.123456+00"; "infinity" and "-infinity" stand for
// `absl::InfiniteFuture()` and `absl::InfinitePast()` both ways.
std::string FormatTimestamp(absl::Time t);
absl::StatusOr<absl::Time> ParseTimestamp(absl::string_view text);

// A PostgreSQL array literal of `values`, each element quoted:
// {"a","b\"c"}. For passing a batch as one text parameter ($1::text[]).
std::string ArrayLiteral(const std::vector<std::string>& values);
// The same with SQL NULL for `std::nullopt` elements.
std::string ArrayLiteral(const std::vector<std::optional<std::string>>& values);

// Appends `value` to `out` escaped for COPY's text format.
void AppendCopyField(absl::string_view value, std::string& out);

// Quotes an SQL identifier ("a""b").
std::string QuoteIdentifier(absl::string_view name);

}  // namespace qg::internal

#endif  // QG_INTERNAL_PG_H_
