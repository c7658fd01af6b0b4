// The pure parts of unique jobs: the canonical JSON form and key derivation.
#include "qg/internal/unique_key.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/internal/sha256.h"
#include "qg/testing/status_matchers.h"

namespace qg::internal {
namespace {

using ::qg_testing::StatusIs;
using ::testing::MatchesRegex;

TEST(CanonicalJsonTest, DropsWhitespaceAndSortsMembers) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"[]", "[]"},
      {" [ 1 , 2 ] ", "[1,2]"},
      {R"({ "b" : 1, "a" : [ true, null ] })", R"({"a":[true,null],"b":1})"},
      {R"({"z":{"y":1,"x":2},"a":"s p a c e"})",
       R"({"a":"s p a c e","z":{"x":2,"y":1}})"},
      {R"("a\"b")", R"("a\"b")"},
      {R"({"a":1,"a":2})", R"({"a":1,"a":2})"},  // stable for repeats
      {"1.0", "1.0"},                            // numbers as written
      {R"({})", R"({})"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CanonicalJson(c.in).value_or("<error>"), c.out) << c.in;
  }
}

TEST(CanonicalJsonTest, RejectsWhatIsNotOneValue) {
  for (const char* bad : {"", "[1,", "{\"a\" 1}", "[1] [2]", "\"open"}) {
    EXPECT_THAT(CanonicalJson(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  EXPECT_THAT(CanonicalJson(std::string(300, '[') + std::string(300, ']')),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DeriveUniqueKeyTest, TypeOnlyIsStableAndReadable) {
  UniqueKeyParts parts{.type = "SendEmail"};
  QG_ASSERT_OK_AND_ASSIGN(std::string key, DeriveUniqueKey(parts));
  EXPECT_THAT(key, MatchesRegex("SendEmail:[0-9a-f]{32}"));
  // The derivation is part of the format (admin tools may recompute it).
  EXPECT_EQ(key,
            absl::StrCat("SendEmail:",
                         Sha256Hex("qg-unique-v1;9:SendEmail;").substr(0, 32)));
}

TEST(DeriveUniqueKeyTest, EachPartThatIsOnSeparatesKeys) {
  UniqueKeyParts base{.type = "T", .queue = "q1", .args = R"({"a":1})"};
  auto key = [](UniqueKeyParts p) { return DeriveUniqueKey(p).value(); };

  UniqueKeyParts other_queue = base;
  other_queue.queue = "q2";
  EXPECT_EQ(key(base), key(other_queue));  // queue not part of the key
  base.by_queue = other_queue.by_queue = true;
  EXPECT_NE(key(base), key(other_queue));

  UniqueKeyParts other_args = base;
  other_args.args = R"({"a":2})";
  EXPECT_EQ(key(base), key(other_args));
  base.by_args = other_args.by_args = true;
  EXPECT_NE(key(base), key(other_args));
  other_args.args = R"( { "a" : 1 } )";  // same args, other spacing
  EXPECT_EQ(key(base), key(other_args));

  UniqueKeyParts other_type = base;
  other_type.type = "U";
  EXPECT_NE(key(base), key(other_type));
}

TEST(DeriveUniqueKeyTest, PeriodsAreCountedFromTheEpoch) {
  absl::Time t = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z
  UniqueKeyParts p{.type = "T", .by_period = absl::Hours(1), .at = t};
  auto key = [&](absl::Time at) {
    UniqueKeyParts q = p;
    q.at = at;
    return DeriveUniqueKey(q).value();
  };
  EXPECT_EQ(key(t), key(t + absl::Minutes(59)));
  EXPECT_NE(key(t), key(t + absl::Minutes(60)));
  EXPECT_NE(key(t), key(t - absl::Microseconds(1)));
  // Before 1970 too: floor, not truncation.
  absl::Time early = absl::FromUnixSeconds(-1);
  EXPECT_EQ(key(early), key(absl::FromUnixSeconds(-3600)));
  EXPECT_NE(key(early), key(absl::FromUnixSeconds(0)));
  // Another period length is another key, even for the same start.
  UniqueKeyParts daily = p;
  daily.by_period = absl::Hours(24);
  EXPECT_NE(DeriveUniqueKey(daily).value(), key(t));
}

TEST(DeriveUniqueKeyTest, RejectsBadPeriodsAndBadArgs) {
  EXPECT_THAT(DeriveUniqueKey({.type = "T", .by_period = absl::Seconds(-1)}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      DeriveUniqueKey({.type = "T", .by_period = absl::Nanoseconds(10)}),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DeriveUniqueKey({.type = "T", .by_args = true, .args = "[1"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DeriveUniqueKeyTest, LongTypeIsCutOnACharacterBoundary) {
  std::string type = std::string(199, 'x') + "\xC3\xA9";  // 201 bytes
  QG_ASSERT_OK_AND_ASSIGN(std::string key, DeriveUniqueKey({.type = type}));
  EXPECT_EQ(key.substr(0, 200), std::string(199, 'x') + ":");
}

}  // namespace
}  // namespace qg::internal
