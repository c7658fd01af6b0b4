// qg/internal/escape.h
// -----------------------------------------------------------------------------
//
// The backslash escapes that COPY's text format (`AppendCopyField`,
// qg/internal/pg.h) and JSON strings (`JsonString`, qg/json_writer.h) have
// in common: backslash, newline, carriage return and tab. Each format adds
// its own on top (JSON: the quote and other control characters).
//
// Example:
//   const char* e = qg::internal::CommonBackslashEscape('\n');  // "\\n"
#ifndef QG_INTERNAL_ESCAPE_H_
#define QG_INTERNAL_ESCAPE_H_

namespace qg::internal {

// The two-character escape of `c` (e.g. "\\n" for a newline), or nullptr
// when `c` is none of the four.
inline const char* CommonBackslashEscape(char c) {
  switch (c) {
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      return nullptr;
  }
}

}  // namespace qg::internal

#endif  // QG_INTERNAL_ESCAPE_H_
