// qg/internal/pg.h
// -----------------------------------------------------------------------------
//
// The libpq helpers only qg-cpp's own code needs, on top of the public ones
// in qg/pg.h (connections, results, statements, the SQLSTATE map): array and
// COPY literals, identifier quoting, the NUL-byte check. Not a public API:
// visible to //qg/... only.
//
// Example:
//   qg::internal::ArrayLiteral({"a", "b\"c"});  // {"a","b\"c"}
//   std::string line;
//   qg::internal::AppendCopyField("tab\there", line);  // tab\there
#ifndef QG_INTERNAL_PG_H_
#define QG_INTERNAL_PG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "qg/pg.h"

namespace qg::internal {

// Checks that `value` contains no NUL byte (PostgreSQL text cannot store
// one): `InvalidArgument` naming `what` otherwise.
absl::Status CheckNoNul(absl::string_view what, absl::string_view value);

// A PostgreSQL array literal of `values`, each element quoted:
// {"a","b\"c"}. For passing a batch as one text parameter ($1::text[]).
std::string ArrayLiteral(const std::vector<std::string>& values);
// The same with SQL NULL for `std::nullopt` elements.
std::string ArrayLiteral(const std::vector<std::optional<std::string>>& values);

// Appends `value` to `out` as one quoted element of an array literal
// ("b\"c"), for callers that build a literal in place: `out` gets no
// separator or braces.
void AppendArrayElement(absl::string_view value, std::string& out);

// The elements of a bigint[] in PostgreSQL's text output ("{-1,2}", "{}")
// appended to `out`; false when `text` is not one.
bool ParseIdArray(absl::string_view text, std::vector<int64_t>* out);

// Appends `value` to `out` escaped for COPY's text format.
void AppendCopyField(absl::string_view value, std::string& out);

// Quotes an SQL identifier ("a""b").
std::string QuoteIdentifier(absl::string_view name);

}  // namespace qg::internal

#endif  // QG_INTERNAL_PG_H_
