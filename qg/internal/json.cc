#include "qg/internal/json.h"

#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "rapidjson/error/error.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

namespace qg::internal {
namespace {

constexpr int kMaxDepth = 512;

// RapidJSON's SAX events, all accepted: only the syntax is checked, no value
// is built. Objects and arrays count their nesting; the 513th level stops the
// parse (kParseErrorTermination) before the recursive reader goes deeper.
struct DepthHandler
    : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, DepthHandler> {
  bool Default() { return true; }
  bool StartObject() { return ++depth <= kMaxDepth; }
  bool EndObject(rapidjson::SizeType) {
    --depth;
    return true;
  }
  bool StartArray() { return ++depth <= kMaxDepth; }
  bool EndArray(rapidjson::SizeType) {
    --depth;
    return true;
  }
  int depth = 0;
};

// Strings are checked as UTF-8 (PostgreSQL rejects anything else), numbers
// are handed over as text (so none is converted), and the reader stops after
// the one value: the rest is checked below, because RapidJSON would take an
// embedded NUL byte for the end of the input.
constexpr unsigned kFlags = rapidjson::kParseValidateEncodingFlag |
                            rapidjson::kParseNumbersAsStringsFlag |
                            rapidjson::kParseStopWhenDoneFlag;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsHex(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The length of the JSON number (RFC 8259 grammar) that starts at `s[i]`, or
// 0 when none does.
size_t NumberLength(absl::string_view s, size_t i) {
  size_t p = i;
  auto digits = [&] {
    size_t start = p;
    while (p < s.size() && IsDigit(s[p])) ++p;
    return p > start;
  };
  if (p < s.size() && s[p] == '-') ++p;
  if (p < s.size() && s[p] == '0') {
    ++p;
  } else if (!digits()) {
    return 0;
  }
  if (p < s.size() && s[p] == '.') {
    ++p;
    if (!digits()) return 0;
  }
  if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
    ++p;
    if (p < s.size() && (s[p] == '+' || s[p] == '-')) ++p;
    if (!digits()) return 0;
  }
  return p - i;
}

// RapidJSON 1.1.0 is stricter than PostgreSQL's json input in two ways:
// it rejects a \u escape of a lone UTF-16 surrogate (kParseErrorStringUnicode-
// SurrogateInvalid) and a number beyond double's range such as 1e400
// (kParseErrorNumberTooBig); PostgreSQL's json type checks escapes only for
// four hex digits and keeps numbers as text, so it stores both. For such a
// text, the reader runs again over a copy in which every surrogate escape
// becomes a plain one (\uD800 -> \u0800) and every number becomes `0` padded
// with spaces: same length, so offsets stay the same, and valid exactly where
// the original is valid to PostgreSQL. Strings are followed as far as the
// text is valid JSON, which is as far as the first error the reader reports.
std::string PostgresCompatibleCopy(absl::string_view s) {
  std::string t(s);
  bool in_string = false;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (in_string) {
      if (c == '"') {
        in_string = false;
      } else if (c == '\\' && i + 1 < t.size()) {
        if (t[i + 1] == 'u' && i + 5 < t.size() && IsHex(t[i + 2]) &&
            IsHex(t[i + 3]) && IsHex(t[i + 4]) && IsHex(t[i + 5]) &&
            (t[i + 2] == 'd' || t[i + 2] == 'D') &&
            absl::string_view("89abcdefABCDEF").find(t[i + 3]) !=
                absl::string_view::npos) {
          t[i + 2] = '0';
        }
        ++i;  // the escaped character
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '-' || IsDigit(c)) {
      size_t n = NumberLength(t, i);
      if (n == 0) continue;
      t[i] = '0';
      for (size_t k = 1; k < n; ++k) t[i + k] = ' ';
      i += n - 1;
    }
  }
  return t;
}

// What the reader wanted at the offset where it stopped.
const char* Expected(rapidjson::ParseErrorCode code, absl::string_view text,
                     size_t offset) {
  switch (code) {
    case rapidjson::kParseErrorDocumentEmpty:
    case rapidjson::kParseErrorValueInvalid:
      return "a JSON value";
    case rapidjson::kParseErrorDocumentRootNotSingular:
      return "end of input";
    case rapidjson::kParseErrorObjectMissName:
      return "a string key";
    case rapidjson::kParseErrorObjectMissColon:
      return "':'";
    case rapidjson::kParseErrorObjectMissCommaOrCurlyBracket:
      return "',' or '}'";
    case rapidjson::kParseErrorArrayMissCommaOrSquareBracket:
      return "',' or ']'";
    case rapidjson::kParseErrorStringUnicodeEscapeInvalidHex:
      return "four hex digits after \\u";
    case rapidjson::kParseErrorStringUnicodeSurrogateInvalid:
      return "a valid \\u escape";
    case rapidjson::kParseErrorStringEscapeInvalid:
    case rapidjson::kParseErrorStringMissQuotationMark:
      // RapidJSON reports a raw control character (NUL included) in a string
      // with one of these codes.
      if (offset < text.size() &&
          static_cast<unsigned char>(text[offset]) < 0x20) {
        return "no raw control character in a string";
      }
      return code == rapidjson::kParseErrorStringEscapeInvalid
                 ? "a valid escape"
                 : "a closing '\"'";
    case rapidjson::kParseErrorStringInvalidEncoding:
      return "valid UTF-8";
    case rapidjson::kParseErrorNumberTooBig:
      // Only an incomplete number is still too big after the retry below.
      return "a JSON number";
    case rapidjson::kParseErrorNumberMissFraction:
    case rapidjson::kParseErrorNumberMissExponent:
      return "a digit";
    case rapidjson::kParseErrorTermination:
      return "at most 512 levels of nesting";
    default:
      return "valid JSON";
  }
}

absl::Status Error(absl::string_view text, rapidjson::ParseErrorCode code,
                   size_t offset) {
  // The handler stops a parse just after the '[' or '{' one level too deep;
  // name the bracket.
  if (code == rapidjson::kParseErrorTermination && offset > 0) --offset;
  std::string at = offset < text.size()
                       ? absl::StrCat("at offset ", offset)
                       : absl::StrCat("at end of input (offset ", offset, ")");
  return absl::InvalidArgumentError(
      absl::StrCat("args are not valid JSON: expected ",
                   Expected(code, text, offset), " ", at));
}

absl::Status Check(absl::string_view text, bool retried) {
  rapidjson::MemoryStream stream(text.data(), text.size());
  DepthHandler handler;
  // The reader copies each string and number onto its stack before handing
  // it to the handler; a pool on this frame's buffer spares typical args
  // any heap allocation (longer ones grow into malloc'd chunks).
  alignas(8) char buffer[1024];
  rapidjson::MemoryPoolAllocator<> pool(buffer, sizeof(buffer));
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>,
                           rapidjson::MemoryPoolAllocator<>>
      reader(&pool, sizeof(buffer) / 2);
  rapidjson::ParseResult r = reader.Parse<kFlags>(stream, handler);
  if (r.IsError()) {
    if (!retried &&
        (r.Code() == rapidjson::kParseErrorStringUnicodeSurrogateInvalid ||
         r.Code() == rapidjson::kParseErrorNumberTooBig)) {
      return Check(PostgresCompatibleCopy(text), /*retried=*/true);
    }
    return Error(text, r.Code(), r.Offset());
  }
  size_t pos = stream.Tell();
  while (pos < text.size() && IsSpace(text[pos])) ++pos;
  if (pos != text.size()) {
    return Error(text, rapidjson::kParseErrorDocumentRootNotSingular, pos);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateJson(absl::string_view text) {
  return Check(text, /*retried=*/false);
}

}  // namespace qg::internal
