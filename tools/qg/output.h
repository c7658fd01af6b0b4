// tools/qg/output.h
// -----------------------------------------------------------------------------
//
// How the command line prints: aligned text tables for people, JSON for
// programs, and the small formatting rules both share (times in UTC with
// microseconds, control characters made visible in tables).
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

// JsonObject
//
// One JSON object, fields in the order added.
class JsonObject {
 public:
  JsonObject& String(absl::string_view name, absl::string_view value);
  // `value`, or null when it is empty.
  JsonObject& StringOrNull(absl::string_view name, absl::string_view value);
  JsonObject& Int(absl::string_view name, int64_t value);
  JsonObject& Bool(absl::string_view name, bool value);
  JsonObject& Time(absl::string_view name, absl::Time value);
  JsonObject& Null(absl::string_view name);
  // The array of `values` as JSON strings.
  JsonObject& Strings(absl::string_view name,
                      const std::vector<std::string>& values);
  // `json` is already JSON text (e.g. a job's args).
  JsonObject& Raw(absl::string_view name, absl::string_view json);
  std::string text() const { return text_ + "}"; }

 private:
  JsonObject& Field(absl::string_view name, absl::string_view json);
  std::string text_ = "{";
};

// A JSON array of the objects' texts, on one line.
std::string JsonArray(const std::vector<JsonObject>& items);

// `s` as a JSON string literal (quotes included).
std::string JsonString(absl::string_view s);

// `s` for a table cell: newlines, carriage returns and tabs as \n, \r, \t.
std::string Printable(absl::string_view s);

// `s` cut to `max` characters, ending in "..." when cut.
std::string Truncate(absl::string_view s, size_t max);

// "2026-11-29T06:00:00.123456Z"; "infinity" for `absl::InfiniteFuture()`.
std::string FormatUtc(absl::Time t);

// `s` quoted for a POSIX shell ('it'\''s').
std::string ShellQuote(absl::string_view s);

}  // namespace qg_cli

#endif  // TOOLS_QG_OUTPUT_H_
