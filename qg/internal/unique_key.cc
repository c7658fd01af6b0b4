#include "qg/internal/unique_key.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace qg::internal {
namespace {

// SHA-256 (FIPS 180-4).
class Sha256 {
 public:
  void Update(absl::string_view data) {
    for (unsigned char c : data) {
      block_[fill_++] = c;
      if (fill_ == 64) {
        Compress();
        fill_ = 0;
      }
    }
    bits_ += static_cast<uint64_t>(data.size()) * 8;
  }

  std::array<uint8_t, 32> Finish() {
    uint64_t bits = bits_;
    block_[fill_++] = 0x80;
    if (fill_ > 56) {
      while (fill_ < 64) block_[fill_++] = 0;
      Compress();
      fill_ = 0;
    }
    while (fill_ < 56) block_[fill_++] = 0;
    for (int i = 7; i >= 0; --i) {
      block_[fill_++] = static_cast<uint8_t>(bits >> (8 * i));
    }
    Compress();
    std::array<uint8_t, 32> out;
    for (int i = 0; i < 8; ++i) {
      for (int j = 0; j < 4; ++j) {
        out[4 * i + j] = static_cast<uint8_t>(h_[i] >> (24 - 8 * j));
      }
    }
    return out;
  }

 private:
  static uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

  void Compress() {
    static constexpr uint32_t kK[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
        0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
        0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
        0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
        0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = (uint32_t{block_[4 * i]} << 24) |
             (uint32_t{block_[4 * i + 1]} << 16) |
             (uint32_t{block_[4 * i + 2]} << 8) | uint32_t{block_[4 * i + 3]};
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3];
    uint32_t e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t s1 = Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25);
      uint32_t ch = (e & f) ^ (~e & g);
      uint32_t t1 = h + s1 + ch + kK[i] + w[i];
      uint32_t s0 = Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22);
      uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      uint32_t t2 = s0 + maj;
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
    h_[5] += f;
    h_[6] += g;
    h_[7] += h;
  }

  uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t block_[64];
  int fill_ = 0;
  uint64_t bits_ = 0;
};

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

std::string Sha256Hex(absl::string_view data) {
  Sha256 sha;
  sha.Update(data);
  std::array<uint8_t, 32> digest = sha.Finish();
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest.data()), digest.size()));
}

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
