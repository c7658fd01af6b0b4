// qg/grants.h
// -----------------------------------------------------------------------------
//
// Least-privilege roles: the GRANTs for three group roles (NOLOGIN), each
// holding what one kind of qg-cpp process needs and nothing more. Give a
// login role one of them by membership (`GRANT qg_worker TO app_worker`).
//
//   enqueuer  adds jobs: `Client::Enqueue` and its `InTx`, `Many`, `Stream`
//             and `Detailed` forms, unique jobs, workflows
//             (`EnqueueWorkflow`, `NewJob::depends_on`), batches
//             (`CreateBatch`, jobs with `batch_id`, `SealBatch`). It reads
//             que_jobs (the unique-job statements return the job holding a
//             key) but changes and deletes no job, reads no history,
//             settings, limits or batch progress.
//   worker    runs jobs: a `WorkerPool` in either mode or `Worker` (lock,
//             finish, fail, snooze, cancel requests, limits' rate tokens,
//             job history and its retention, throughput counts, periodic
//             schedules of `WorkerOptions::periodic`), and whatever an
//             enqueuer may do (handlers enqueue follow-up jobs), and reads
//             what handlers ask (`GetParents`, `GetBatch`). It changes no
//             limit, pause, history setting or periodic record but its own
//             schedules'. A pool that declares `WorkerOptions::limits`
//             writes them when it starts: set them with `qg limits` (as
//             the operator) instead, or give that pool's role both roles.
//   operator  operates the queue: `Admin`, the console, `qg` (stats, jobs,
//             retry, delete, cancel, pause, resume, limits, history,
//             periodic, batches, enqueue). Running jobs is the worker's: it
//             takes no rate tokens, writes no throughput counts or
//             periodic records, and creates no batches or workflows.
//
// The schema makes this possible (see the end of schema/qg_additions.sql):
// the functions that keep workflows and batches consistent
// (`qg_enqueue_child`, `qg_batch_seal`, and the triggers that settle
// parents and batches) are SECURITY DEFINER, so that no role needs write
// access to that bookkeeping, and every function's search_path is pinned.
//
// Applying needs the owner of qg-cpp's tables (the role that ran `qg
// migrate`) or a superuser, and CREATEROLE for the roles that do not exist
// yet. Grants only: a privilege a role held before keeps it.
//
// Example:
//   QG_ASSIGN_OR_RETURN(std::string sql, qg::GrantsSql());  // `qg grants`
//   QG_RETURN_IF_ERROR(qg::ApplyGrants(owner_conn));    // `qg grants --apply`
//   // As a role with CREATEROLE: GRANT qg_worker TO app_worker;
//   // In the worker, as app_worker, before anything starts:
//   QG_RETURN_IF_ERROR(qg::CheckGrants(conn, qg::GrantRole::kWorker,
//                                      qg::GrantCheck::kEssential));
#ifndef QG_GRANTS_H_
#define QG_GRANTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libpq-fe.h"

namespace qg {

// GrantRole
//
// The three kinds of qg-cpp processes, each with its role.
enum class GrantRole { kEnqueuer, kWorker, kOperator };

// "enqueuer", "worker" or "operator".
absl::string_view GrantRoleName(GrantRole role);

// GrantRoles
//
// The names of the three group roles. Role names are cluster-wide; each
// is quoted as an identifier wherever it is used ("App Worker" is one
// role). A name may not be empty, longer than 63 bytes, invalid UTF-8,
// hold a control character, be "public" or "none" or start with "pg_"
// (PostgreSQL reserves those). Two kinds may share a role: it gets both
// sets.
struct GrantRoles {
  std::string enqueuer_role = "qg_enqueuer";
  std::string worker_role = "qg_worker";
  std::string operator_role = "qg_operator";

  // The name given for `role`.
  const std::string& For(GrantRole role) const;
};

// GrantsSql()
//
// The SQL that creates the three roles where they are missing (NOLOGIN,
// idempotent: DO blocks that look first) and grants each what it needs:
// USAGE on the schema que_jobs is in (found when the SQL runs), then one
// GRANT per object, each with a comment saying what it is for. Object
// names are unqualified, resolved by the applying session's search_path
// as `qg migrate` resolved them. Needs no database. `InvalidArgument` for
// a role name `GrantRoles` does not allow.
absl::StatusOr<std::string> GrantsSql(const GrantRoles& roles = {});

// ApplyGrants()
//
// Runs `GrantsSql(roles)` on `conn`: all of it or, on an error, none of it
// (one implicit transaction; inside the caller's when `conn` is in one).
// Errors: a bad name → `InvalidArgument`; qg-cpp's schema missing (que_jobs
// or an addition of this version) → `FailedPrecondition` saying to run `qg
// migrate`; the session's role may not grant on the tables or create a
// role → `PermissionDenied` saying who may.
absl::Status ApplyGrants(PGconn* conn, const GrantRoles& roles = {});

// GrantCheck
//
// How much `CheckGrants()` asks for.
enum class GrantCheck {
  // Every privilege `GrantsSql()` gives the role.
  kEverything,
  // Only those without which the kind of process cannot do its work at
  // all, for a process that refuses to start rather than fail every
  // attempt: an enqueuer INSERT and SELECT on que_jobs and USAGE on its
  // sequence (plain jobs); a worker SELECT, UPDATE and DELETE on que_jobs
  // and SELECT on qg_queues and qg_limits (lock, finish, fail); an
  // operator SELECT on que_jobs. A role set up with the grants an earlier
  // version documented passes it.
  kEssential,
};

// CheckGrants()
//
// Whether the session's role (`current_user`, with what it inherits) holds
// the privileges `GrantsSql()` gives `role`'s group role (all of them, or
// the essential ones), so that a process can refuse to start instead of
// half-working. OK when it does; `PermissionDenied` listing what it lacks
// ("UPDATE, DELETE on que_jobs; SELECT on qg_queues") and how to get it;
// `FailedPrecondition` when qg-cpp's schema (or an addition of this
// version) is missing. Reads the catalogs only.
absl::Status CheckGrants(PGconn* conn, GrantRole role,
                         GrantCheck check = GrantCheck::kEverything);

}  // namespace qg

#endif  // QG_GRANTS_H_
