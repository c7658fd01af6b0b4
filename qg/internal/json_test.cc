#include "qg/internal/json.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/testing/status_matchers.h"

namespace qg::internal {
namespace {

using ::qg_testing::IsOk;
using ::qg_testing::StatusIs;
using ::testing::HasSubstr;

TEST(ValidateJsonTest, AcceptsEveryKindOfValue) {
  for (const char* ok :
       {"[]", "{}", " [1, \"two\", {\"a\": null}] ", "true", "false", "null",
        "-0.5e+10", "0", "\"\\u00e9\\n\\\"\"", "{\"a\":{\"b\":[[],[{}]]}}",
        "\"caf\xc3\xa9\"", "1E5"}) {
    EXPECT_THAT(ValidateJson(ok), IsOk()) << ok;
  }
}

TEST(ValidateJsonTest, RejectsMalformedJsonWithOffset) {
  for (const char* bad :
       {"", "[", "{not json", "[1,]", "{\"a\" 1}", "01", "1.", "[1] x",
        "'single'", "\"tab\there\"", "\"bad \\x escape\"", "{\"a\":}", "NaN",
        "[1 2]", "\"\\u12\""}) {
    EXPECT_THAT(ValidateJson(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("args are not valid JSON")))
        << bad;
  }
  EXPECT_THAT(ValidateJson("[1,]"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("offset 3")));
}

TEST(ValidateJsonTest, NamesWhatWasExpectedAndWhere) {
  struct Case {
    std::string json;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"{\"a\":1 2}", "expected ',' or '}' at offset 7"},
           {"{\"a\" 1}", "expected ':' at offset 5"},
           {"{not json", "expected a string key at offset 1"},
           {"[1 2]", "expected ',' or ']' at offset 3"},
           {"[1,]", "expected a JSON value at offset 3"},
           {"", "expected a JSON value at end of input (offset 0)"},
           {"[", "expected a JSON value at end of input (offset 1)"},
           {"[1] x", "expected end of input at offset 4"},
           {"1.", "expected a digit at end of input (offset 2)"},
           {"\"tab\there\"",
            "expected no raw control character in a string at offset 4"},
           {"\"bad \\x escape\"", "expected a valid escape at offset 5"},
           {"\"\\u12\"", "expected four hex digits after \\u at offset 1"},
           {"\"open", "expected a closing '\"' at end of input (offset 5)"},
           // A NUL byte ends neither the text nor a string.
           {std::string("[1]\0", 4), "expected end of input at offset 3"},
           {std::string("\"a\0b\"", 5),
            "expected no raw control character in a string at offset 2"},
       }) {
    EXPECT_THAT(ValidateJson(c.json),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "args are not valid JSON: " + std::string(c.message)))
        << c.json;
  }
}

// PostgreSQL's `json` input (the args column's type) is the reference: the
// check accepts what it stores and rejects what it refuses, so a bad value is
// an InvalidArgument before any SQL rather than an insert error.
// qg/client_test.cc checks the same cases against a real server.
TEST(ValidateJsonTest, AcceptsWhatPostgresJsonAccepts) {
  for (const char* ok : {
           "\"\\u0000\"",  // json keeps it as text; only jsonb refuses it
           "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800x\"", "\"\\ud800\\u0041\"",
           "\"\\udc00\\ud800\"",
           "\"\\uD83D\\uDE00\"",  // lone surrogates and a real pair
           "1e400", "-1e400", "[1e-400, 0.1e309]",
           "\"\\\\ud800\"",              // an escaped backslash, then text
           "\"\x7f \xf4\x8f\xbf\xbf\"",  // DEL, U+10FFFF
       }) {
    EXPECT_THAT(ValidateJson(ok), IsOk()) << ok;
  }
  EXPECT_THAT(ValidateJson(std::string(400, '7')), IsOk());
}

TEST(ValidateJsonTest, RejectsWhatPostgresRejects) {
  struct Case {
    const char* json;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"\"\xff\"", "expected valid UTF-8 at offset 1"},
           {"[\"ok\", \"\xc0\xaf\"]", "expected valid UTF-8 at offset 8"},
           {"\"\xed\xa0\x80\"", "expected valid UTF-8 at offset 1"},
           {"\"\xf4\x90\x80\x80\"", "expected valid UTF-8 at offset 1"},
           {"\"\xc3\"", "expected valid UTF-8 at offset 1"},
           {"\xc3\xa9", "expected a JSON value at offset 0"},
           {"NaN", "expected a JSON value at offset 0"},
           {"[-]", "expected a JSON value at offset 2"},
           {"[1e]", "expected a digit at offset 3"},
           {"-01", "expected end of input at offset 2"},
           // After a surrogate escape or a huge number the offsets still hold.
           {"[\"\\ud800\" 1]", "expected ',' or ']' at offset 10"},
           {"[1e400,]", "expected a JSON value at offset 7"},
           {"[1e400 01]", "expected ',' or ']' at offset 7"},
           {"{\"\\ud800\":1e999,\"b\":\"\xff\"}",
            "expected valid UTF-8 at offset 21"},
       }) {
    EXPECT_THAT(ValidateJson(c.json),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "args are not valid JSON: " + std::string(c.message)))
        << c.json;
  }
}

TEST(ValidateJsonTest, BoundsNesting) {
  EXPECT_THAT(ValidateJson(std::string(512, '[') + std::string(512, ']')),
              IsOk());
  EXPECT_THAT(
      ValidateJson(std::string(511, '[') + "{\"a\":1}" + std::string(511, ']')),
      IsOk());
  EXPECT_THAT(ValidateJson(std::string(513, '[') + std::string(513, ']')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "args are not valid JSON: expected at most 512 levels "
                       "of nesting at offset 512"));
  EXPECT_THAT(
      ValidateJson(std::string(100000, '[')),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nesting")));
  EXPECT_THAT(
      ValidateJson(std::string(100000, '{')),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("string key")));
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_THAT(
      ValidateJson(objects),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nesting")));
}

}  // namespace
}  // namespace qg::internal
