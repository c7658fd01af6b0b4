// qg/json_writer.h
// -----------------------------------------------------------------------------
//
// A small JSON writer for qg-cpp's outputs: one object at a time, fields in
// the order added, strings escaped (quotes, backslashes, control
// characters), times in UTC with microseconds. The `qg` command line's
// `--json` outputs and the web console's JSON API write through it, so both
// print the same shapes (see qg/admin_json.h).
//
// Example:
//   qg::JsonObject o;
//   o.Int("id", 42).String("type", "SendEmail").Bool("working", false);
//   o.text();  // {"id":42,"type":"SendEmail","working":false}
//
//   qg::JsonArray({o});  // [{"id":42,...}]
//   qg::JsonString("a\"b\n");  // "a\"b\n" (quotes included)
#ifndef QG_JSON_WRITER_H_
#define QG_JSON_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace qg {

// JsonObject
//
// One JSON object, fields in the order added. Names are not checked for
// duplicates.
class JsonObject {
 public:
  // `value` as a JSON string.
  JsonObject& String(absl::string_view name, absl::string_view value);
  // `value`, or null when it is empty.
  JsonObject& StringOrNull(absl::string_view name, absl::string_view value);
  JsonObject& Int(absl::string_view name, int64_t value);
  // `value` as a JSON number (shortest text that reads back the same);
  // null when it is not finite.
  JsonObject& Double(absl::string_view name, double value);
  JsonObject& Bool(absl::string_view name, bool value);
  JsonObject& Null(absl::string_view name);
  // As `FormatUtc()`, in a JSON string.
  JsonObject& Time(absl::string_view name, absl::Time value);
  // As String(), Int() and Time(); null when `value` has none (an empty
  // string is a string here, unlike StringOrNull()).
  JsonObject& OptionalString(absl::string_view name,
                             const std::optional<std::string>& value);
  JsonObject& OptionalInt(absl::string_view name, std::optional<int64_t> value);
  JsonObject& OptionalTime(absl::string_view name,
                           std::optional<absl::Time> value);
  // The array of `values` as JSON strings.
  JsonObject& Strings(absl::string_view name,
                      const std::vector<std::string>& values);
  // `json` is already JSON text (e.g. a job's args, another object's text()).
  JsonObject& Raw(absl::string_view name, absl::string_view json);

  // The object's text: {"name":value,...}.
  std::string text() const { return text_ + "}"; }

 private:
  JsonObject& Field(absl::string_view name, absl::string_view json);
  std::string text_ = "{";
};

// JsonArray()
//
// A JSON array of the objects' texts, on one line: "[{...},{...}]".
std::string JsonArray(const std::vector<JsonObject>& items);

// JsonString()
//
// `s` as a JSON string literal, quotes included. Bytes >= 0x80 are copied
// as they are (the text qg-cpp stores is UTF-8).
std::string JsonString(absl::string_view s);

// FormatUtc()
//
// "2026-11-29T06:00:00.123456Z" (years of four digits at least: "0050-...");
// "infinity" for `absl::InfiniteFuture()`, "-infinity" for
// `absl::InfinitePast()`.
std::string FormatUtc(absl::Time t);

}  // namespace qg

#endif  // QG_JSON_WRITER_H_
