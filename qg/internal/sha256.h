// qg/internal/sha256.h
// -----------------------------------------------------------------------------
//
// SHA-256 (FIPS 180-4, OpenSSL's libcrypto, which libpq links already), so
// that digests are the same on every machine and build: unique-job keys
// (qg/internal/unique_key.h) and the embedded server's template cache key
// (qg/embedded/embedded_postgres.cc) are stored or shared between processes,
// so they cannot come from `std::hash`, whose values may differ between
// standard libraries and runs.
//
// Example:
//   Sha256Hex("abc");  // "ba7816bf8f01cfea414140de5dae2223b00361a3..."
#ifndef QG_INTERNAL_SHA256_H_
#define QG_INTERNAL_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"

namespace qg::internal {

// The SHA-256 digest of `data` as 64 lowercase hex digits.
std::string Sha256Hex(absl::string_view data);

}  // namespace qg::internal

#endif  // QG_INTERNAL_SHA256_H_
