// qg/internal/unique_key.h
// -----------------------------------------------------------------------------
//
// The pure parts of unique jobs: a canonical form of JSON text, and the
// derivation of a job's uniqueness key from its type, queue, args and
// period (see `qg::UniqueOpts` in qg/job.h for what callers see).
//
// Example:
//   CanonicalJson(R"({ "b": 1, "a": [1, 2] })");  // R"({"a":[1,2],"b":1})"
#ifndef QG_INTERNAL_UNIQUE_KEY_H_
#define QG_INTERNAL_UNIQUE_KEY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace qg::internal {

// The most bytes a uniqueness key may have (explicit or derived), well below
// what one btree index entry can hold.
inline constexpr size_t kMaxUniqueKeyBytes = 1024;

// CanonicalJson()
//
// `json` (one valid JSON value) without insignificant whitespace and with
// the members of every object sorted by their key's text (bytewise, stable
// for repeated keys). Strings and numbers are kept as written: "\u0061" and
// "a", or 1 and 1.0, stay different. `InvalidArgument` for text that is not
// one JSON value, or nests deeper than 256 levels.
absl::StatusOr<std::string> CanonicalJson(absl::string_view json);

// What a derived key is made of.
struct UniqueKeyParts {
  std::string type;
  bool by_queue = false;
  std::string queue;
  bool by_args = false;
  std::string args;  // JSON text; canonicalized when `by_args`
  // Positive: the key includes the start of the period `at` falls in.
  absl::Duration by_period = absl::ZeroDuration();
  absl::Time at;
};

// DeriveUniqueKey()
//
// "<type>:<32 hex digits>", the digits being the first half of the SHA-256
// of the parts that are on (each length-prefixed, so no two different sets
// of parts share a key). Periods are counted from the Unix epoch in UTC, so
// every process puts an instant in the same period. A type longer than 200
// bytes appears cut to 200 in the prefix (the digest covers all of it).
absl::StatusOr<std::string> DeriveUniqueKey(const UniqueKeyParts& parts);

}  // namespace qg::internal

#endif  // QG_INTERNAL_UNIQUE_KEY_H_
