// qg/status_macros.h
// -----------------------------------------------------------------------------
//
// `QG_RETURN_IF_ERROR` and `QG_ASSIGN_OR_RETURN`, for functions that return
// `absl::Status` or `absl::StatusOr<T>`.
//
// Example:
//   absl::StatusOr<int64_t> EnqueueWelcome(qg::Client& client) {
//     QG_ASSIGN_OR_RETURN(qg::NewJob job, qg::NewTypedJob(welcome));
//     return client.Enqueue(job);
//   }
#ifndef QG_STATUS_MACROS_H_
#define QG_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns `expr`'s status from the enclosing function when it is not OK.
#define QG_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status _qg_status = (expr);      \
    if (!_qg_status.ok()) return _qg_status; \
  } while (0)

#define QG_STATUS_MACROS_CONCAT_INNER_(a, b) a##b
#define QG_STATUS_MACROS_CONCAT_(a, b) QG_STATUS_MACROS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an `absl::StatusOr<T>`); returns its status when not OK,
// else moves the value into `lhs` (which may declare a variable).
#define QG_ASSIGN_OR_RETURN(lhs, expr)                                         \
  QG_ASSIGN_OR_RETURN_IMPL_(QG_STATUS_MACROS_CONCAT_(_qg_statusor_, __LINE__), \
                            lhs, expr)
#define QG_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) return statusor.status();        \
  lhs = std::move(statusor).value()

#endif  // QG_STATUS_MACROS_H_
