// qg/internal/run_at.h
// -----------------------------------------------------------------------------
//
// The run_ats a job may be enqueued with: from 0001-01-01 00:00:00 UTC up
// to, not including, a dead job's run_at (`sql::kDeadRunAt`, 9999-01-01).
// Earlier instants are years PostgreSQL writes with "BC", which Ruby, Go and
// qg workers sharing que_jobs read differently or not at all; a run_at at or
// after the dead marker would make a live job count as dead (and
// `retry --all-dead` would run it); the infinities and anything outside
// timestamptz cannot be a time to run at.
#ifndef QG_INTERNAL_RUN_AT_H_
#define QG_INTERNAL_RUN_AT_H_

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace qg::internal {

// The earliest run_at a job may have: 0001-01-01 00:00:00 UTC.
absl::Time EarliestRunAt();

// A dead (or cancelled) job's run_at, `sql::kDeadRunAt`: 9999-01-01
// 00:00:00 UTC. Every run_at a job is enqueued with is before it.
absl::Time DeadRunAt();

// CheckRunAt()
//
// OK when `EarliestRunAt() <= run_at < DeadRunAt()`; otherwise
// `InvalidArgument` naming `run_at` and the accepted range.
absl::Status CheckRunAt(absl::Time run_at);

}  // namespace qg::internal

#endif  // QG_INTERNAL_RUN_AT_H_
