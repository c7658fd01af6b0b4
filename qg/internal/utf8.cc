#include "qg/internal/utf8.h"

#include <cstdint>

namespace qg::internal {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
constexpr char kEllipsis[] = "\xE2\x80\xA6";     // U+2026

// The length of the valid UTF-8 character at the start of `s`, or 0 when its
// first bytes are not one (nor, unless `nul_ok`, when it is NUL). Follows RFC
// 3629's table.
size_t CharLength(absl::string_view s, bool nul_ok = false) {
  auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  auto cont = [&](size_t i, uint8_t lo = 0x80, uint8_t hi = 0xBF) {
    return i < s.size() && b(i) >= lo && b(i) <= hi;
  };
  uint8_t c = b(0);
  if (c == 0) return nul_ok ? 1 : 0;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    return cont(1) && cont(2) ? 3 : 0;
  }
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // surrogates
  if (c == 0xF0) return cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// How many bytes of an invalid sequence at the start of `s` one U+FFFD
// replaces: the lead byte and the continuation bytes that a valid character
// starting with it could have had (the "maximal subpart" of Unicode's
// recommended practice), at least 1.
size_t InvalidLength(absl::string_view s) {
  uint8_t c = static_cast<uint8_t>(s[0]);
  size_t want;
  uint8_t lo = 0x80, hi = 0xBF;  // the second byte's range for this lead
  if (c >= 0xC2 && c <= 0xDF) {
    want = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    want = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    want = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t n = 1;
  while (n < want && n < s.size()) {
    uint8_t b = static_cast<uint8_t>(s[n]);
    if (b < (n == 1 ? lo : 0x80) || b > (n == 1 ? hi : 0xBF)) break;
    ++n;
  }
  return n;
}

}  // namespace

bool IsStorableUtf8(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t n = CharLength(text.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

size_t FirstInvalidUtf8(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t n = CharLength(text.substr(i), /*nul_ok=*/true);
    if (n == 0) return i;
    i += n;
  }
  return absl::string_view::npos;
}

std::string StorableText(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes && IsStorableUtf8(text)) {
    return std::string(text);
  }
  std::string out;
  out.reserve(text.size() < max_bytes ? text.size() : max_bytes);
  bool cut = false;
  for (size_t i = 0; i < text.size();) {
    size_t n = CharLength(text.substr(i));
    absl::string_view piece;
    if (n > 0) {
      piece = text.substr(i, n);
    } else {
      piece = kReplacement;
      n = InvalidLength(text.substr(i));
    }
    if (out.size() + piece.size() > max_bytes) {
      cut = true;
      break;
    }
    out.append(piece.data(), piece.size());
    i += n;
  }
  if (cut) {
    size_t ellipsis = sizeof(kEllipsis) - 1;
    if (max_bytes < ellipsis) return std::string();
    // Drop whole characters until the ellipsis fits.
    while (out.size() + ellipsis > max_bytes) {
      size_t end = out.size() - 1;
      while (end > 0 && (static_cast<uint8_t>(out[end]) & 0xC0) == 0x80) --end;
      out.resize(end);
    }
    out += kEllipsis;
  }
  return out;
}

std::string AsciiText(absl::string_view text, size_t max_bytes) {
  std::string out;
  for (char c : text.substr(0, max_bytes)) {
    out.push_back((c >= 0x20 && c < 0x7F) || c == '\n' || c == '\t' ? c : '?');
  }
  return out;
}

}  // namespace qg::internal
