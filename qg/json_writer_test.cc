#include "qg/json_writer.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace qg {
namespace {

TEST(JsonWriterTest, WritesFieldsInOrder) {
  JsonObject o;
  o.Int("id", 42)
      .String("type", "T")
      .Bool("working", false)
      .Null("none")
      .StringOrNull("empty", "")
      .Raw("args", "[1]");
  EXPECT_EQ(o.text(), R"({"id":42,"type":"T","working":false,"none":null,)"
                      R"("empty":null,"args":[1]})");
}

TEST(JsonWriterTest, OptionalValuesAreNullWhenAbsent) {
  JsonObject o;
  o.OptionalString("q", std::string())
      .OptionalString("t", std::nullopt)
      .OptionalInt("n", 3)
      .OptionalInt("m", std::nullopt)
      .OptionalTime("at", absl::FromUnixSeconds(0))
      .OptionalTime("never", std::nullopt);
  EXPECT_EQ(o.text(), R"({"q":"","t":null,"n":3,"m":null,)"
                      R"("at":"1970-01-01T00:00:00.000000Z","never":null})");
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonString("a\"b\\c\n\t\x01</script>"),
            R"("a\"b\\c\n\t\u0001</script>")");
}

TEST(JsonWriterTest, WritesDoublesShortestAndNonFiniteAsNull) {
  JsonObject o;
  o.Double("a", 0.1).Double("b", 2.5).Double("c", 1.0 / 0.0);
  EXPECT_EQ(o.text(), R"({"a":0.1,"b":2.5,"c":null})");
}

TEST(JsonWriterTest, FormatsTimesInUtcWithMicroseconds) {
  EXPECT_EQ(FormatUtc(absl::FromUnixMicros(1764396000123456)),
            "2025-11-29T06:00:00.123456Z");
  EXPECT_EQ(FormatUtc(absl::InfiniteFuture()), "infinity");
}

// RFC 3339 has four-digit years: year 50 is "0050", not "50" (which a reader
// takes for 1950 or 2050, as PostgreSQL did with the SQL text).
TEST(JsonWriterTest, YearsBefore1000HaveFourDigits) {
  absl::Time t = absl::FromCivil(absl::CivilSecond(50, 6, 1, 0, 0, 0),
                                 absl::UTCTimeZone());
  EXPECT_EQ(FormatUtc(t), "0050-06-01T00:00:00.000000Z");
  EXPECT_EQ(FormatUtc(absl::FromCivil(absl::CivilSecond(1, 1, 1, 0, 0, 0),
                                      absl::UTCTimeZone())),
            "0001-01-01T00:00:00.000000Z");
}

}  // namespace
}  // namespace qg
