// qg/internal/utf8.h
// -----------------------------------------------------------------------------
//
// Text that PostgreSQL will store. A `text` column of a UTF-8 database rejects
// invalid UTF-8 (SQLSTATE 22021) and NUL bytes, so a message built from a
// handler's bytes (an error string, a shell handler's stderr) goes through
// `StorableText()` before it is written as `last_error`.
#ifndef QG_INTERNAL_UTF8_H_
#define QG_INTERNAL_UTF8_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace qg::internal {

// The most bytes of a message qg-cpp stores as `last_error`.
inline constexpr size_t kMaxErrorBytes = 64 * 1024;

// StorableText()
//
// `text` as valid UTF-8 without NUL bytes, at most `max_bytes` long: each
// maximal invalid byte sequence (and each NUL) becomes U+FFFD, and a text too
// long is cut on a character boundary and ends with "…" (the cut text and
// the ellipsis together fit `max_bytes`). Valid text within the limit comes
// back unchanged. PostgreSQL's rules decide what is valid: no overlong forms,
// no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
//
// Example:
//   StorableText("bad \xff bytes")  // "bad \uFFFD bytes"
std::string StorableText(absl::string_view text,
                         size_t max_bytes = kMaxErrorBytes);

// AsciiText()
//
// `text` with every byte outside printable ASCII, tab and newline replaced by
// '?', for databases whose encoding cannot take U+FFFD; cut to `max_bytes`.
std::string AsciiText(absl::string_view text,
                      size_t max_bytes = kMaxErrorBytes);

// Whether `text` is valid UTF-8 without NUL bytes.
bool IsStorableUtf8(absl::string_view text);

// The offset of the first byte of `text` that does not start a valid UTF-8
// character (by the rules of `StorableText()`), or `absl::string_view::npos`
// when the whole text is valid. A NUL byte is valid here: it is text in
// JSON (written "\u0000"), though not in a PostgreSQL text column.
size_t FirstInvalidUtf8(absl::string_view text);

}  // namespace qg::internal

#endif  // QG_INTERNAL_UTF8_H_
