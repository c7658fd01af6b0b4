// ValidateJson (RapidJSON's Reader, qg/internal/json.cc) side by side with the
// hand-written checker it replaced, on typical job args:
//
//   bazel run -c opt //qg/internal:json_benchmark
//
// The old checker is kept here, and only here, as the point of comparison
// (issue 10, item 8); it is not part of any library.
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "benchmark/benchmark.h"
#include "qg/internal/json.h"

namespace old_json {
// The hand-written checker as it was at 11095de (qg/internal/json.cc).

constexpr int kMaxDepth = 512;

class Parser {
 public:
  explicit Parser(absl::string_view s) : s_(s) {}

  absl::Status Run() {
    SkipSpace();
    if (!Value(0)) return Error();
    SkipSpace();
    if (pos_ != s_.size()) {
      expected_ = "end of input";
      return Error();
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Error() const {
    std::string at = pos_ < s_.size()
                         ? absl::StrCat("at offset ", pos_)
                         : absl::StrCat("at end of input (offset ", pos_, ")");
    return absl::InvalidArgumentError(
        absl::StrCat("args are not valid JSON: expected ", expected_, " ", at));
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' ||
                                s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool Literal(absl::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool Value(int depth) {
    if (depth > kMaxDepth) {
      expected_ = "at most 512 levels of nesting";
      return false;
    }
    expected_ = "a JSON value";
    if (pos_ >= s_.size()) return false;
    switch (s_[pos_]) {
      case '{':
        return Object(depth);
      case '[':
        return Array(depth);
      case '"':
        return String();
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number();
    }
  }
  bool Object(int depth) {
    ++pos_;  // {
    SkipSpace();
    if (Peek('}')) {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      expected_ = "a string key";
      if (!Peek('"') || !String()) return false;
      SkipSpace();
      expected_ = "':'";
      if (!Peek(':')) return false;
      ++pos_;
      SkipSpace();
      if (!Value(depth + 1)) return false;
      SkipSpace();
      expected_ = "',' or '}'";
      if (Peek(',')) {
        ++pos_;
        continue;
      }
      if (Peek('}')) {
        ++pos_;
        return true;
      }
      return false;
    }
  }
  bool Array(int depth) {
    ++pos_;  // [
    SkipSpace();
    if (Peek(']')) {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      if (!Value(depth + 1)) return false;
      SkipSpace();
      expected_ = "',' or ']'";
      if (Peek(',')) {
        ++pos_;
        continue;
      }
      if (Peek(']')) {
        ++pos_;
        return true;
      }
      return false;
    }
  }
  static bool IsHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
  }
  bool String() {
    ++pos_;  // "
    expected_ = "a closing '\"'";
    while (pos_ < s_.size()) {
      unsigned char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) {
        expected_ = "no raw control character in a string";
        return false;
      }
      if (c == '\\') {
        ++pos_;
        expected_ = "a valid escape";
        if (pos_ >= s_.size()) return false;
        char e = s_[pos_];
        if (e == 'u') {
          for (int i = 1; i <= 4; ++i) {
            if (pos_ + i >= s_.size() || !IsHex(s_[pos_ + i])) return false;
          }
          pos_ += 5;
          expected_ = "a closing '\"'";
          continue;
        }
        if (absl::string_view("\"\\/bfnrt").find(e) ==
            absl::string_view::npos) {
          return false;
        }
      }
      ++pos_;
    }
    return false;
  }
  bool Digits() {
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }
  bool Number() {
    expected_ = "a JSON value";
    if (Peek('-')) ++pos_;
    if (Peek('0')) {
      ++pos_;
    } else if (!Digits()) {
      return false;
    }
    if (Peek('.')) {
      ++pos_;
      expected_ = "a digit";
      if (!Digits()) return false;
    }
    if (Peek('e') || Peek('E')) {
      ++pos_;
      if (Peek('+') || Peek('-')) ++pos_;
      expected_ = "a digit";
      if (!Digits()) return false;
    }
    return true;
  }

  absl::string_view s_;
  size_t pos_ = 0;
  const char* expected_ = "a JSON value";
};

absl::Status ValidateJson(absl::string_view text) { return Parser(text).Run(); }

}  // namespace old_json

namespace {

// The args of tools/bench's s1 (one per job: "[<n>]").
const std::string& S1Args() {
  static const std::string* s = new std::string("[12345]");
  return *s;
}

const std::string& SmallObject() {
  static const std::string* s = new std::string(
      R"({"userId":"1","address":"ada@example.com","name":"Ada"})");
  return *s;
}

// An array of about 1 KB: numbers, strings (one with escapes), a nested
// object, booleans, null.
const std::string& KilobyteArray() {
  static const std::string* s = [] {
    std::string a = "[";
    for (int i = 0; a.size() < 1000; ++i) {
      absl::StrAppend(&a, i == 0 ? "" : ",", i, ",\"item-", i,
                      "\",{\"ok\":true,\"v\":", i, ".5e-3,\"n\":null}");
    }
    absl::StrAppend(&a, ",\"caf\xc3\xa9 \\u00e9\\n\"]");
    return new std::string(a);
  }();
  return *s;
}

// One string of 100 KB (mostly ASCII, some two- and three-byte UTF-8).
const std::string& HundredKilobyteString() {
  static const std::string* s = [] {
    std::string a = "\"";
    while (a.size() < 100 * 1024)
      a += "Lorem ipsum dolor sit amet, caf\xc3\xa9 \xe2\x82\xac. ";
    a += "\"";
    return new std::string(a);
  }();
  return *s;
}

template <absl::Status (*Validate)(absl::string_view),
          const std::string& (*Input)()>
void BM_Validate(benchmark::State& state) {
  const std::string& in = Input();
  if (!Validate(in).ok()) {
    state.SkipWithError("input rejected");
    return;
  }
  for (auto _ : state) {
    absl::Status s = Validate(in);
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(in.size()));
}

constexpr auto kOld = &old_json::ValidateJson;
constexpr auto kNew = &qg::internal::ValidateJson;

BENCHMARK(BM_Validate<kOld, S1Args>)->Name("Old/s1_args");
BENCHMARK(BM_Validate<kNew, S1Args>)->Name("New/s1_args");
BENCHMARK(BM_Validate<kOld, SmallObject>)->Name("Old/small_object");
BENCHMARK(BM_Validate<kNew, SmallObject>)->Name("New/small_object");
BENCHMARK(BM_Validate<kOld, KilobyteArray>)->Name("Old/1kb_array");
BENCHMARK(BM_Validate<kNew, KilobyteArray>)->Name("New/1kb_array");
BENCHMARK(BM_Validate<kOld, HundredKilobyteString>)->Name("Old/100kb_string");
BENCHMARK(BM_Validate<kNew, HundredKilobyteString>)->Name("New/100kb_string");

}  // namespace

BENCHMARK_MAIN();
