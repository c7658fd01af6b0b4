// qg/pg.h
// -----------------------------------------------------------------------------
//
// libpq connections and results the way qg-cpp uses them, for services and
// tools that talk to PostgreSQL beside qg: open a connection with the session
// settings qg parses by, run a statement with text parameters, and get the
// SQLSTATE-based status every qg-cpp call returns. Thin RAII over libpq; the
// `PGconn*` stays available for anything else (`qg::PgExecutor`, `PgTx`,
// `Client::EnqueueStream`).
//
// Errors, one meaning each (`StatusFromResult`, by SQLSTATE): connection
// lost or server unreachable (08..., 57P01-03) → `Unavailable`; statement
// cancelled or timed out (57014) → `Cancelled`; serialization failure or
// deadlock (40...) → `Aborted`; undefined table or database (42P01, 3D000)
// or a bad transaction state (25...) → `FailedPrecondition`; missing
// privilege or bad credentials (42501, 28...) → `PermissionDenied`; unique
// violation (23505) → `AlreadyExists`; other data and syntax errors (22...,
// 23..., 42...) → `InvalidArgument`; out of resources (53...) →
// `ResourceExhausted`; the rest → `Internal`. Every database error carries
// its SQLSTATE (`SqlState()`), and its message names the statement that
// failed. Messages never contain a password (`RedactConninfo`).
//
// Example:
//   QG_ASSIGN_OR_RETURN(qg::PgConnPtr conn, qg::Connect("dbname=app"));
//   QG_ASSIGN_OR_RETURN(qg::PgResult r,
//                       qg::Exec(conn.get(), "SELECT $1::int + 1", {"41"}));
//   r.Get(0, 0);  // "42"
#ifndef QG_PG_H_
#define QG_PG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libpq-fe.h"

namespace qg {

// Closes a libpq connection (`PQfinish`).
struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};

// An owned libpq connection; `PQfinish` on destruction.
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;

// A text query parameter; `std::nullopt` is SQL NULL.
using SqlParam = std::optional<std::string>;
// The parameters of one statement, bound to $1, $2, ... in order.
using SqlParams = std::vector<SqlParam>;

// PgResult
//
// An owned `PGresult` (`PQclear` on destruction) with accessors that say
// what they expect. Rows and columns count from 0.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* res) : res_(res) {}

  // The number of rows and columns (0 for an empty result).
  int rows() const { return res_ ? PQntuples(res_.get()) : 0; }
  int cols() const { return res_ ? PQnfields(res_.get()) : 0; }
  // Whether a field is SQL NULL.
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
  // The libpq result, still owned by this object (nullptr when empty).
  PGresult* get() const { return res_.get(); }

 private:
  struct Deleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Deleter> res_;
};

// The payload URL under which database errors carry their SQLSTATE.
inline constexpr char kSqlStatePayload[] = "qg.sqlstate";

// SqlState()
//
// The SQLSTATE carried by `status` (e.g. "40001"), or "" if none.
std::string SqlState(const absl::Status& status);

// Connect()
//
// Opens a connection. Bad conninfo → `InvalidArgument`; server unreachable →
// `Unavailable`; bad credentials → `PermissionDenied`; database missing →
// `FailedPrecondition`. The message never contains a secret (see
// `RedactConninfo`). The session settings qg-cpp parses by are forced
// whatever the database's defaults: TimeZone=UTC, DateStyle=ISO,YMD,
// IntervalStyle=postgres, extra_float_digits=3, client_encoding=UTF8. Unless
// the conninfo says otherwise, connecting gives up after 10 s and TCP
// keepalives notice a dead peer within about a minute.
absl::StatusOr<PgConnPtr> Connect(absl::string_view conninfo);

// Exec()
//
// Runs `sql` with text parameters (`PQexecParams`). A parameter holding a
// NUL byte is rejected with `InvalidArgument` before any SQL. Errors name
// the statement by its first 60 characters, e.g.
// `query "SELECT count(*) FROM que_jobs": ERROR: ...`.
absl::StatusOr<PgResult> Exec(PGconn* conn, absl::string_view sql,
                              const SqlParams& params = {});

// ExecSimple()
//
// Runs `sql` without parameters through the simple query protocol
// (`PQexec`): several statements separated by ';' are allowed. Errors name
// the statement as `Exec()`'s do.
absl::StatusOr<PgResult> ExecSimple(PGconn* conn, absl::string_view sql);

// Prepare()
//
// Prepares `sql` under `name` on `conn`. Errors name the statement.
absl::Status Prepare(PGconn* conn, const char* name, const char* sql);

// ExecPrepared()
//
// Runs the statement `conn` prepared as `name`. Errors name the statement.
absl::StatusOr<PgResult> ExecPrepared(PGconn* conn, const char* name,
                                      const SqlParams& params);

// StatusFromResult()
//
// Turns a finished result into a status: OK for success (including COPY
// started), else a status whose code follows the SQLSTATE as listed at the
// top of this file, with the SQLSTATE as payload and the message
// "<context>: <server message>". A null `res` is a failed result.
absl::Status StatusFromResult(PGconn* conn, const PGresult* res,
                              absl::string_view context);

// FormatTimestamp(), ParseTimestamp()
//
// Timestamps as PostgreSQL text in UTC with microseconds:
// "2026-11-29 06:00:00.123456+00"; "infinity" and "-infinity" stand for
// `absl::InfiniteFuture()` and `absl::InfinitePast()` both ways. Every
// instant timestamptz holds (4714-11-24 BC up to 294276-12-31 23:59:59.999999
// UTC) round-trips exactly, microseconds included: the year has at least
// four digits ("0050-06-01 ...", never "50-06-01", which PostgreSQL would
// read as 2050), more after 9999, and years before 1 are written as
// PostgreSQL writes them ("0044-03-15 12:00:00.000000+00 BC" is
// astronomical year -43). Digits below a microsecond are cut toward the
// past. An instant outside timestamptz's range is written just as
// faithfully, so PostgreSQL refuses it ("timestamp out of range",
// `InvalidArgument`) rather than storing another one.
//
// Parsing takes what PostgreSQL prints with DateStyle ISO: any UTC offset
// ("+00", "+05:30", "-03:00:28"), a fraction of up to nine digits or none,
// " BC" after the offset; `InvalidArgument` naming the text for anything
// else (other separators, impossible dates, trailing text).
std::string FormatTimestamp(absl::Time t);
absl::StatusOr<absl::Time> ParseTimestamp(absl::string_view text);

}  // namespace qg

#endif  // QG_PG_H_
