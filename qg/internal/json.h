// qg/internal/json.h
// -----------------------------------------------------------------------------
//
// A strict JSON (RFC 8259) syntax check, so malformed job args are rejected
// with a clear message before any SQL runs. It validates only; args are still
// stored byte for byte.
//
// The reference is PostgreSQL's `json` input (the type of que_jobs.args): what
// it stores passes, what it refuses does not. So strings must be valid UTF-8,
// while \u0000, lone UTF-16 surrogate escapes (\ud800) and numbers beyond a
// double's range (1e400) pass, as PostgreSQL's json (unlike jsonb) keeps them.
// The parser is RapidJSON's SAX reader (//third_party:rapidjson).
#ifndef QG_INTERNAL_JSON_H_
#define QG_INTERNAL_JSON_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace qg::internal {

// OK when `text` is one JSON value with optional surrounding whitespace.
// Otherwise `InvalidArgument` naming the byte offset and what was expected,
// e.g. "args are not valid JSON: expected ',' or '}' at offset 7".
// More than 512 nested arrays or objects are rejected.
absl::Status ValidateJson(absl::string_view text);

}  // namespace qg::internal

#endif  // QG_INTERNAL_JSON_H_
