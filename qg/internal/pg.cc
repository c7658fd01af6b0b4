#include "qg/internal/pg.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "qg/internal/escape.h"

namespace qg::internal {

absl::Status CheckNoNul(absl::string_view what, absl::string_view value) {
  if (value.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " contains a NUL byte, which PostgreSQL text cannot store"));
  }
  return absl::OkStatus();
}

void AppendArrayElement(absl::string_view value, std::string& out) {
  out.push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

std::string ArrayLiteral(
    const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (!values[i].has_value()) {
      out += "NULL";
      continue;
    }
    AppendArrayElement(*values[i], out);
  }
  out.push_back('}');
  return out;
}

bool ParseIdArray(absl::string_view text, std::vector<int64_t>* out) {
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
    return false;
  }
  text = text.substr(1, text.size() - 2);
  if (text.empty()) return true;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v)) return false;
    out->push_back(v);
  }
  return true;
}

std::string ArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendArrayElement(values[i], out);
  }
  out.push_back('}');
  return out;
}

void AppendCopyField(absl::string_view value, std::string& out) {
  for (char c : value) {
    if (const char* escaped = CommonBackslashEscape(c)) {
      out += escaped;
    } else {
      out.push_back(c);
    }
  }
}

std::string QuoteIdentifier(absl::string_view name) {
  return absl::StrCat("\"", absl::StrReplaceAll(name, {{"\"", "\"\""}}), "\"");
}

}  // namespace qg::internal
