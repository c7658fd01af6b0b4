#include "tools/qg/output.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace qg_cli {

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::AddRow(std::vector<std::string> row) {
  row.resize(header_.size());
  rows_.push_back(std::move(row));
}

std::string Table::ToString() const {
  std::vector<size_t> width(header_.size());
  for (size_t c = 0; c < header_.size(); ++c) width[c] = header_[c].size();
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& row) {
    std::string l;
    for (size_t c = 0; c < row.size(); ++c) {
      absl::StrAppend(&l, c ? "  " : "", row[c],
                      std::string(width[c] - row[c].size(), ' '));
    }
    absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(l), "\n");
  };
  line(header_);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  line(rule);
  for (const auto& row : rows_) line(row);
  return out;
}

void Table::Print(FILE* out) const { fputs(ToString().c_str(), out); }

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

JsonObject& JsonObject::Bool(absl::string_view name, bool value) {
  return Field(name, value ? "true" : "false");
}

JsonObject& JsonObject::Time(absl::string_view name, absl::Time value) {
  return Field(name, JsonString(FormatUtc(value)));
}

JsonObject& JsonObject::Null(absl::string_view name) {
  return Field(name, "null");
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
  for (const JsonObject& o : items) texts.push_back(o.text());
  return absl::StrCat("[", absl::StrJoin(texts, ","), "]");
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

std::string Printable(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"\n", "\\n"}, {"\r", "\\r"}, {"\t", "\\t"}});
}

std::string Truncate(absl::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  if (max <= 3) return std::string(s.substr(0, max));
  return absl::StrCat(s.substr(0, max - 3), "...");
}

std::string FormatUtc(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "infinity";
  if (t == absl::InfinitePast()) return "-infinity";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

std::string ShellQuote(absl::string_view s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

}  // namespace qg_cli
