// tools/qg/output.h
// -----------------------------------------------------------------------------
//
// How the command line prints: aligned text tables for people, JSON for
// programs (qg/json_writer.h), and the small formatting rules both share (times
// in UTC with microseconds, control characters made visible in tables).
//
// Example:
//   Table t({"ID", "TYPE"});
//   t.AddRow({"42", "SendEmail"});
//   t.Print(stdout);
//   // ID  TYPE
//   // --  ---------
//   // 42  SendEmail
//
//   JsonObject o;
//   o.Int("id", 42).String("type", "SendEmail").Bool("working", false);
//   o.text();  // {"id":42,"type":"SendEmail","working":false}
#ifndef TOOLS_QG_OUTPUT_H_
#define TOOLS_QG_OUTPUT_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/json_writer.h"

namespace qg_cli {

// Table
//
// Columns padded to their widest cell, two spaces apart, a rule of dashes
// under the header; trailing spaces trimmed.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void AddRow(std::vector<std::string> row);
  bool empty() const { return rows_.empty(); }
  void Print(FILE* out) const;
  std::string ToString() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// The JSON writer (qg/json_writer.h), shared with the web console so both
// print the same shapes (qg/admin_json.h).
using qg::FormatUtc;
using qg::JsonArray;
using qg::JsonObject;
using qg::JsonString;

// `s` for a table cell: newlines, carriage returns and tabs as \n, \r, \t.
std::string Printable(absl::string_view s);

// `s` cut to `max` characters, ending in "..." when cut.
std::string Truncate(absl::string_view s, size_t max);

// `s` quoted for a POSIX shell ('it'\''s').
std::string ShellQuote(absl::string_view s);

}  // namespace qg_cli

#endif  // TOOLS_QG_OUTPUT_H_
