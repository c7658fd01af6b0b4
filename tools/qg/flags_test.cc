#include "tools/qg/flags.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/testing/status_matchers.h"

namespace qg_cli {
namespace {

using ::qg_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Parsed {
  std::string name;
  std::optional<std::string> maybe;
  int count = 7;
  bool verbose = false;
  absl::Duration wait = absl::Seconds(5);
  std::vector<std::string> many;
  std::vector<std::string> positional;
};

absl::Status ParseInto(Parsed& p, const std::vector<std::string>& args,
                       FlagParser* out = nullptr) {
  FlagParser local;
  FlagParser& flags = out ? *out : local;
  flags.String("name", &p.name);
  flags.OptionalString("maybe", &p.maybe);
  flags.Int("count", &p.count);
  flags.Bool("verbose", &p.verbose);
  flags.Duration("wait", &p.wait);
  flags.Repeated("many", &p.many);
  return flags.Parse(args, &p.positional);
}

TEST(FlagParserTest, TakesEqualsAndSeparateValuesAndUnderscores) {
  Parsed p;
  FlagParser flags;
  QG_ASSERT_OK(
      ParseInto(p,
                {"--name=ada", "pos1", "--count", "-3", "--verbose", "--wait",
                 "1m30s", "--many", "a", "--many=b", "--maybe", "-", "pos2"},
                &flags));
  EXPECT_EQ(p.name, "ada");
  EXPECT_EQ(p.count, -3);
  EXPECT_TRUE(p.verbose);
  EXPECT_EQ(p.wait, absl::Seconds(90));
  EXPECT_THAT(p.many, ElementsAre("a", "b"));
  EXPECT_EQ(p.maybe, "-");
  EXPECT_THAT(p.positional, ElementsAre("pos1", "pos2"));
  EXPECT_TRUE(flags.IsSet("count"));
  EXPECT_FALSE(flags.IsSet("bogus"));
}

TEST(FlagParserTest, KeepsDefaultsOfFlagsNotGiven) {
  Parsed p;
  QG_ASSERT_OK(ParseInto(p, {}));
  EXPECT_EQ(p.count, 7);
  EXPECT_FALSE(p.maybe.has_value());
  EXPECT_EQ(p.wait, absl::Seconds(5));
}

TEST(FlagParserTest, OptionalStringDistinguishesEmptyFromUnset) {
  Parsed p;
  QG_ASSERT_OK(ParseInto(p, {"--maybe", ""}));
  EXPECT_EQ(p.maybe, "");
}

TEST(FlagParserTest, BooleansTakeExplicitValues) {
  Parsed p;
  p.verbose = true;
  QG_ASSERT_OK(ParseInto(p, {"--verbose=false"}));
  EXPECT_FALSE(p.verbose);
  Parsed q;
  EXPECT_THAT(ParseInto(q, {"--verbose=maybe"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(FlagParserTest, DurationsAcceptBareSeconds) {
  Parsed p;
  QG_ASSERT_OK(ParseInto(p, {"--wait", "0.25"}));
  EXPECT_EQ(p.wait, absl::Milliseconds(250));
  EXPECT_THAT(ParseInto(p, {"--wait", "soon"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--wait: \"soon\" is not a duration")));
}

TEST(FlagParserTest, ReportsUnknownFlagsMissingAndBadValues) {
  Parsed p;
  EXPECT_THAT(
      ParseInto(p, {"--bogus"}),
      StatusIs(absl::StatusCode::kInvalidArgument, "unknown flag --bogus"));
  EXPECT_THAT(
      ParseInto(p, {"--count"}),
      StatusIs(absl::StatusCode::kInvalidArgument, "--count needs a value"));
  EXPECT_THAT(ParseInto(p, {"--count", "x"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not an integer")));
}

TEST(FlagParserTest, DoubleDashEndsTheFlags) {
  Parsed p;
  QG_ASSERT_OK(ParseInto(p, {"--count", "1", "--", "--name", "x"}));
  EXPECT_EQ(p.count, 1);
  EXPECT_EQ(p.name, "");
  EXPECT_THAT(p.positional, ElementsAre("--name", "x"));
}

// Regression (issue 17, defect 9): "nan", "inf" and numbers past any sane
// range parsed as durations (NaN seconds, the infinite duration), and flags
// such as `qg work --duration` or `qg console --refresh` took them.
TEST(FlagParserTest, DurationsAreFiniteAndBounded) {
  for (const char* text : {"nan", "NaN", "inf", "-inf", "infinity", "1e300",
                           "-1e300", "100001h", "1e9"}) {
    Parsed p;
    EXPECT_THAT(
        ParseInto(p, {"--wait", text}),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--wait: \"")))
        << text;
    EXPECT_EQ(p.wait, absl::Seconds(5)) << text;  // unchanged
  }
  Parsed p;
  QG_ASSERT_OK(ParseInto(p, {"--wait", "100000h"}));
  EXPECT_EQ(p.wait, kMaxFlagDuration);
  QG_ASSERT_OK(ParseInto(p, {"--wait", "-2.5"}));  // the command checks signs
  EXPECT_EQ(p.wait, absl::Milliseconds(-2500));
}

}  // namespace
}  // namespace qg_cli
