// qg/internal/json.h
// -----------------------------------------------------------------------------
//
// A strict JSON (RFC 8259) syntax check, so malformed job args are rejected
// with a clear message before any SQL runs. It validates only; args are still
// stored byte for byte.
#ifndef QG_INTERNAL_JSON_H_
#define QG_INTERNAL_JSON_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace qg::internal {

// OK when `text` is one JSON value with optional surrounding whitespace.
// Otherwise `InvalidArgument` naming the byte offset and what was expected,
// e.g. "args are not valid JSON: expected ',' or '}' at offset 7".
// Nesting deeper than 512 levels is rejected.
absl::Status ValidateJson(absl::string_view text);

}  // namespace qg::internal

#endif  // QG_INTERNAL_JSON_H_
