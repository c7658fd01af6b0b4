// qg/internal/pooler.h
// -----------------------------------------------------------------------------
//
// Telling whether connections reach PostgreSQL through a transaction-mode
// pooler (PgBouncer's `pool_mode = transaction` or `statement`), which hands
// each transaction to whichever server session is free. There a client's
// session state (named prepared statements, settings, session advisory locks,
// LISTEN) does not follow it from one transaction to the next.
#ifndef QG_INTERNAL_POOLER_H_
#define QG_INTERNAL_POOLER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libpq-fe.h"

namespace qg::internal {

// BehindTransactionPooler()
//
// Whether `conn` (idle, opened with `conninfo`) and a second connection
// opened with `conninfo` share server sessions. A direct connection, or a
// session-mode pooler, keeps one backend per client connection for the
// connection's life, distinct from every other client's; a transaction-mode
// pooler gives the next transaction of either connection whichever backend
// is free. The probe interleaves autocommit statements and a held
// transaction on the two connections and reads `pg_backend_pid()`: a
// backend that changes under one connection, or that both connections
// share, is a transaction pooler (PgBouncer's default LIFO reuse shows it at
// the second statement). A pooler that refuses `BEGIN` (statement mode)
// counts as one too. Where the probe cannot tell (no second connection, a
// statement waiting 2 s in vain for a server session) the answer is true,
// which is safe either way: statements go unprepared, and worker pools,
// which could not get their sessions there anyway, refuse to start.
// Errors: a statement's.
absl::StatusOr<bool> BehindTransactionPooler(PGconn* conn,
                                             const std::string& conninfo);

// RequireWritableServer()
//
// `OkStatus()` unless `conn`'s server is a hot standby or makes every
// transaction read-only (the `in_hot_standby` and
// `default_transaction_read_only` settings PostgreSQL 14+ reports, read
// without a round trip); then a `FailedPrecondition` that says `what` needs
// the primary. A worker on a standby could lock jobs (advisory locks work
// there) but never finish one.
absl::Status RequireWritableServer(PGconn* conn, absl::string_view what);

// ServerOnThisMachine()
//
// Whether every server `conninfo` names is reached on this machine: through
// a Unix-domain socket (a host that is a directory or an abstract socket,
// an empty entry, or no host at all and no PGHOST: libpq's default socket)
// or a loopback address. Then the server most likely shares this machine's
// cores with the caller (a tunnel or pooler on loopback may lead elsewhere).
// False when unsure (a `hostaddr` or `service`, PGHOSTADDR or PGSERVICE set,
// another name, an unparsable conninfo).
bool ServerOnThisMachine(absl::string_view conninfo);

}  // namespace qg::internal

#endif  // QG_INTERNAL_POOLER_H_
