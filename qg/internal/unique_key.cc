#include "qg/internal/unique_key.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "qg/internal/sha256.h"

namespace qg::internal {
namespace {

// A recursive-descent re-printer of JSON text.
class Canonicalizer {
 public:
  explicit Canonicalizer(absl::string_view in) : in_(in) {}

  absl::StatusOr<std::string> Run() {
    std::string out;
    if (!Value(0, out)) return Error();
    SkipSpace();
    if (pos_ != in_.size()) return Error();
    return out;
  }

 private:
  static constexpr int kMaxDepth = 256;

  absl::Status Error() const {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot canonicalize JSON args near byte ", pos_));
  }

  void SkipSpace() {
    while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\t' ||
                                 in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Value(int depth, std::string& out) {
    if (depth > kMaxDepth) return false;
    SkipSpace();
    if (pos_ >= in_.size()) return false;
    char c = in_[pos_];
    if (c == '{') return Object(depth, out);
    if (c == '[') return Array(depth, out);
    if (c == '"') return String(out);
    // A number or a literal: copied as written, up to a delimiter.
    size_t start = pos_;
    while (pos_ < in_.size()) {
      char d = in_[pos_];
      if (d == ',' || d == ']' || d == '}' || d == ':' || d == ' ' ||
          d == '\t' || d == '\n' || d == '\r' || d == '"' || d == '[' ||
          d == '{') {
        break;
      }
      ++pos_;
    }
    if (pos_ == start) return false;
    out.append(in_.data() + start, pos_ - start);
    return true;
  }

  bool String(std::string& out) {
    size_t start = pos_++;
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == '\\') {
        if (pos_ >= in_.size()) return false;
        ++pos_;
      } else if (c == '"') {
        out.append(in_.data() + start, pos_ - start);
        return true;
      }
    }
    return false;
  }

  bool Array(int depth, std::string& out) {
    ++pos_;
    out.push_back('[');
    SkipSpace();
    if (pos_ < in_.size() && in_[pos_] == ']') {
      ++pos_;
      out.push_back(']');
      return true;
    }
    while (true) {
      if (!Value(depth + 1, out)) return false;
      SkipSpace();
      if (pos_ >= in_.size()) return false;
      char c = in_[pos_++];
      if (c == ']') break;
      if (c != ',') return false;
      out.push_back(',');
    }
    out.push_back(']');
    return true;
  }

  bool Object(int depth, std::string& out) {
    ++pos_;
    std::vector<std::pair<std::string, std::string>> members;
    SkipSpace();
    if (pos_ < in_.size() && in_[pos_] == '}') {
      ++pos_;
      out.append("{}");
      return true;
    }
    while (true) {
      SkipSpace();
      if (pos_ >= in_.size() || in_[pos_] != '"') return false;
      std::pair<std::string, std::string> member;
      if (!String(member.first)) return false;
      SkipSpace();
      if (pos_ >= in_.size() || in_[pos_++] != ':') return false;
      if (!Value(depth + 1, member.second)) return false;
      members.push_back(std::move(member));
      SkipSpace();
      if (pos_ >= in_.size()) return false;
      char c = in_[pos_++];
      if (c == '}') break;
      if (c != ',') return false;
    }
    std::stable_sort(
        members.begin(), members.end(),
        [](const auto& a, const auto& b) { return a.first < b.first; });
    out.push_back('{');
    for (size_t i = 0; i < members.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += members[i].first;
      out.push_back(':');
      out += members[i].second;
    }
    out.push_back('}');
    return true;
  }

  absl::string_view in_;
  size_t pos_ = 0;
};

// Appends a length-prefixed field, so that no two field lists collide.
void AppendField(absl::string_view value, std::string& out) {
  absl::StrAppend(&out, value.size(), ":", value, ";");
}

}  // namespace

absl::StatusOr<std::string> CanonicalJson(absl::string_view json) {
  return Canonicalizer(json).Run();
}

absl::StatusOr<std::string> DeriveUniqueKey(const UniqueKeyParts& parts) {
  if (parts.by_period < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("UniqueOpts::by_period must not be negative, not ",
                     absl::FormatDuration(parts.by_period)));
  }
  std::string material = "qg-unique-v1;";
  AppendField(parts.type, material);
  if (parts.by_queue) {
    material += "q;";
    AppendField(parts.queue, material);
  }
  if (parts.by_args) {
    absl::StatusOr<std::string> args = CanonicalJson(parts.args);
    if (!args.ok()) return args.status();
    material += "a;";
    AppendField(*args, material);
  }
  if (parts.by_period > absl::ZeroDuration()) {
    int64_t period = absl::ToInt64Microseconds(parts.by_period);
    if (period < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("UniqueOpts::by_period must be at least 1us, not ",
                       absl::FormatDuration(parts.by_period)));
    }
    if (parts.at == absl::InfiniteFuture() ||
        parts.at == absl::InfinitePast()) {
      return absl::InvalidArgumentError(
          "a job unique by period needs a finite run_at");
    }
    int64_t at = absl::ToUnixMicros(parts.at);
    int64_t start = at / period * period;
    if (at % period < 0) start -= period;  // floor for times before 1970
    absl::StrAppend(&material, "p;", period, ";", start, ";");
  }
  std::string digest = Sha256Hex(material).substr(0, 32);
  absl::string_view type = parts.type;
  if (type.size() > 200) {
    // Cut on a character boundary: the key must stay valid UTF-8.
    size_t n = 200;
    while (n > 0 && (static_cast<unsigned char>(type[n]) & 0xC0) == 0x80) --n;
    type = type.substr(0, n);
  }
  return absl::StrCat(type, ":", digest);
}

}  // namespace qg::internal
