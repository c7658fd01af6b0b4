// qg/internal/sql.h
// -----------------------------------------------------------------------------
//
// Every SQL statement qg-cpp sends, in one place: one file each,
// `qg/internal/sql/<name>.sql`, compiled into the table of statements
// `k<Name>` (named `qg_<name>`, the name it is prepared under and errors
// name it by) by `sql/embed.sh`, which also puts in the clauses several
// statements share (written once, in `qg/internal/sql/fragments/`) and lists
// the statements a file marks `-- prepared by: client` or `locker`. Each
// file's comments say what its parameters are. Code builds calls through the
// typed wrappers of `qg/internal/queries.h`, never from SQL text of its own;
// adding a statement is its .sql file and its typed call.
//
// Example:
//   const sql::Statement& s = sql::kInsertJob;  // from sql/insert_job.sql
//   s.name;    // "qg_insert_job"
//   s.params;  // 5: it uses $1..$5
#ifndef QG_INTERNAL_SQL_H_
#define QG_INTERNAL_SQL_H_

#include <vector>

#include "absl/status/status.h"
#include "libpq-fe.h"

namespace qg::internal::sql {

// Statement
//
// One statement. `text` may hold several statements only when `params` is
// 0 (then it is sent through the simple query protocol).
struct Statement {
  const char* name;
  const char* text;
  int params;  // the highest $N of `text`
};

}  // namespace qg::internal::sql

// The table: kDeadRunAt (the run_at of a dead job: so far ahead that no
// worker, qg-cpp's or a peer's, takes it again, yet an ordinary timestamp
// every client library can read; defined once, in qg/internal/BUILD.bazel),
// one `k<Name>` per file, kClientPrepared and kLockerPrepared.
#include "qg/internal/sql_statements.h"  // IWYU pragma: export

namespace qg::internal::sql {

// The channel pause, resume and cancel requests go to.
inline constexpr char kControlChannel[] = "qg_control";

// The channel qg_notify_jobs() notifies on (schema/qg_additions.sql).
inline constexpr char kNotifyChannel[] = "qg_jobs";

// The statements every pooled client connection prepares (those marked
// `-- prepared by: client`).
const std::vector<const Statement*>& ClientStatements();

// The statements the fast path's locker session prepares (`-- prepared by:
// locker`).
const std::vector<const Statement*>& LockerStatements();

// PrepareAll()
//
// Prepares `statements` on `conn` under their names. Errors name the
// statement that failed.
absl::Status PrepareAll(PGconn* conn,
                        const std::vector<const Statement*>& statements);

}  // namespace qg::internal::sql

#endif  // QG_INTERNAL_SQL_H_
