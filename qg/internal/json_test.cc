#include "qg/internal/json.h"

#include <string>

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

TEST(ValidateJsonTest, BoundsNesting) {
  EXPECT_THAT(ValidateJson(std::string(512, '[') + std::string(512, ']')),
              IsOk());
  EXPECT_THAT(
      ValidateJson(std::string(100000, '[')),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nesting")));
}

}  // namespace
}  // namespace qg::internal
