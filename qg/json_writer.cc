#include "qg/json_writer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "qg/internal/escape.h"

namespace qg {

JsonObject& JsonObject::Field(absl::string_view name, absl::string_view json) {
  absl::StrAppend(&text_, text_.size() > 1 ? "," : "", JsonString(name), ":",
                  json);
  return *this;
}

JsonObject& JsonObject::String(absl::string_view name,
                               absl::string_view value) {
  return Field(name, JsonString(value));
}

JsonObject& JsonObject::StringOrNull(absl::string_view name,
                                     absl::string_view value) {
  return Field(name, value.empty() ? "null" : JsonString(value));
}

JsonObject& JsonObject::Int(absl::string_view name, int64_t value) {
  return Field(name, absl::StrCat(value));
}

JsonObject& JsonObject::Double(absl::string_view name, double value) {
  if (!std::isfinite(value)) return Field(name, "null");
  char buf[32];
  snprintf(buf, sizeof(buf), "%.17g", value);
  // The shortest of %.15g..%.17g that reads back the same.
  for (int precision = 15; precision < 17; ++precision) {
    char shorter[32];
    snprintf(shorter, sizeof(shorter), "%.*g", precision, value);
    if (strtod(shorter, nullptr) == value) return Field(name, shorter);
  }
  return Field(name, buf);
}

JsonObject& JsonObject::Bool(absl::string_view name, bool value) {
  return Field(name, value ? "true" : "false");
}

JsonObject& JsonObject::Null(absl::string_view name) {
  return Field(name, "null");
}

JsonObject& JsonObject::Time(absl::string_view name, absl::Time value) {
  return Field(name, JsonString(FormatUtc(value)));
}

JsonObject& JsonObject::OptionalString(
    absl::string_view name, const std::optional<std::string>& value) {
  return value.has_value() ? String(name, *value) : Null(name);
}

JsonObject& JsonObject::OptionalInt(absl::string_view name,
                                    std::optional<int64_t> value) {
  return value.has_value() ? Int(name, *value) : Null(name);
}

JsonObject& JsonObject::OptionalTime(absl::string_view name,
                                     std::optional<absl::Time> value) {
  return value.has_value() ? Time(name, *value) : Null(name);
}

JsonObject& JsonObject::Strings(absl::string_view name,
                                const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const std::string& v : values) quoted.push_back(JsonString(v));
  return Field(name, absl::StrCat("[", absl::StrJoin(quoted, ","), "]"));
}

JsonObject& JsonObject::Raw(absl::string_view name, absl::string_view json) {
  return Field(name, json);
}

std::string JsonArray(const std::vector<JsonObject>& items) {
  std::vector<std::string> texts;
  texts.reserve(items.size());
  for (const JsonObject& o : items) texts.push_back(o.text());
  return absl::StrCat("[", absl::StrJoin(texts, ","), "]");
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    if (c == '"') {
      out += "\\\"";
    } else if (const char* escaped = internal::CommonBackslashEscape(c)) {
      out += escaped;
    } else if (c < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out += "\"";
  return out;
}

std::string FormatUtc(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "infinity";
  if (t == absl::InfinitePast()) return "-infinity";
  // %E4Y: four digits at least (RFC 3339), "0050" for year 50.
  return absl::FormatTime("%E4Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

}  // namespace qg
