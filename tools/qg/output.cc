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

std::string Printable(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"\n", "\\n"}, {"\r", "\\r"}, {"\t", "\\t"}});
}

std::string Truncate(absl::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  if (max <= 3) return std::string(s.substr(0, max));
  return absl::StrCat(s.substr(0, max - 3), "...");
}

std::string ShellQuote(absl::string_view s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

}  // namespace qg_cli
