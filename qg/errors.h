// qg/errors.h
// -----------------------------------------------------------------------------
//
// The documented errors of qg-cpp, the counterparts of Go qg's `ErrAgain` and
// `ErrMissingType`, as `absl::Status` values with distinct codes and a payload
// that tells them apart from other errors of the same code.
//
// Example:
//   absl::StatusOr<std::unique_ptr<qg::Job>> job = client->LockJob("");
//   if (qg::IsErrAgain(job.status())) { /* heavy contention: try later */ }
#ifndef QG_ERRORS_H_
#define QG_ERRORS_H_

#include "absl/status/status.h"

namespace qg {

// ErrAgain()
//
// Returned by `Client::LockJob()` when no job could be locked after 10
// attempts because concurrent workers kept finishing the candidates first.
// Code `Unavailable` (retry the call later); message "maximum number of
// LockJob attempts reached". Should not happen unless the queue is under
// extremely heavy concurrency.
absl::Status ErrAgain();

// ErrMissingType()
//
// Returned by the enqueue functions for a job with an empty type, before any
// SQL runs. Code `InvalidArgument`; message "job type must be specified".
absl::Status ErrMissingType();

// True when `status` is `ErrAgain()` / `ErrMissingType()` (compares the code
// and the qg payload, not the message).
bool IsErrAgain(const absl::Status& status);
bool IsErrMissingType(const absl::Status& status);

}  // namespace qg

#endif  // QG_ERRORS_H_
