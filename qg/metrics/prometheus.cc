#include "qg/metrics/prometheus.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace qg::prometheus {

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (strtod(buf, nullptr) == value) break;
  }
  return buf;
}

namespace {

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void AppendLabels(std::string* out, const Labels& labels) {
  if (labels.empty()) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    absl::StrAppend(out, first ? "" : ",", name, "=\"", EscapeLabelValue(value),
                    "\"");
    first = false;
  }
  out->push_back('}');
}

}  // namespace

void TextWriter::Family(absl::string_view name, absl::string_view help,
                        absl::string_view type) {
  absl::StrAppend(&text_, "# HELP ", name, " ", EscapeHelp(help), "\n",
                  "# TYPE ", name, " ", type, "\n");
}

void TextWriter::Sample(absl::string_view name, const Labels& labels,
                        double value) {
  absl::StrAppend(&text_, name);
  AppendLabels(&text_, labels);
  absl::StrAppend(&text_, " ", FormatValue(value), "\n");
}

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(bounds->size(), 0) {}

void Histogram::Observe(double value) {
  auto it = std::lower_bound(bounds_->begin(), bounds_->end(), value);
  if (it != bounds_->end()) ++buckets_[it - bounds_->begin()];
  ++count_;
  sum_ += value;
}

void Histogram::Write(TextWriter& writer, absl::string_view name,
                      const Labels& labels) const {
  std::string bucket = absl::StrCat(name, "_bucket");
  Labels with_le = labels;
  with_le.emplace_back("le", "");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_->size(); ++i) {
    cumulative += buckets_[i];
    with_le.back().second = FormatValue((*bounds_)[i]);
    writer.Sample(bucket, with_le, static_cast<double>(cumulative));
  }
  with_le.back().second = "+Inf";
  writer.Sample(bucket, with_le, static_cast<double>(count_));
  writer.Sample(absl::StrCat(name, "_sum"), labels, sum_);
  writer.Sample(absl::StrCat(name, "_count"), labels,
                static_cast<double>(count_));
}

}  // namespace qg::prometheus
