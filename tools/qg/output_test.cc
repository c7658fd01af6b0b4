#include "tools/qg/output.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qg_cli {
namespace {

TEST(TableTest, PadsColumnsAndTrimsTrailingSpace) {
  Table t({"ID", "TYPE", "NOTE"});
  t.AddRow({"42", "SendEmail", ""});
  t.AddRow({"7", "X", "hi"});
  EXPECT_EQ(t.ToString(),
            "ID  TYPE       NOTE\n"
            "--  ---------  ----\n"
            "42  SendEmail\n"
            "7   X          hi\n");
}

TEST(JsonObjectTest, WritesFieldsInOrderWithEscapes) {
  JsonObject o;
  o.Int("id", 42)
      .String("type", "a\"b\\c\n\x01")
      .Bool("working", false)
      .StringOrNull("last_error", "")
      .Raw("args", "[1]")
      .Time("run_at", absl::FromUnixMicros(1795932000123456));
  EXPECT_EQ(o.text(), R"({"id":42,"type":"a\"b\\c\n\u0001","working":false,)"
                      R"("last_error":null,"args":[1],)"
                      R"("run_at":"2026-11-29T06:00:00.123456Z"})");
  EXPECT_EQ(JsonArray({}), "[]");
  EXPECT_EQ(JsonArray({o, o}), absl::StrCat("[", o.text(), ",", o.text(), "]"));
}

TEST(JsonObjectTest, WritesNullsAndStringArrays) {
  JsonObject o;
  o.Null("last_job_id").Strings("paused", {"a", "b\"c"}).Strings("none", {});
  EXPECT_EQ(o.text(),
            R"({"last_job_id":null,"paused":["a","b\"c"],"none":[]})");
}

TEST(OutputTest, PrintableTruncateAndShellQuote) {
  EXPECT_EQ(Printable("a\nb\tc"), "a\\nb\\tc");
  EXPECT_EQ(Truncate("abcdefgh", 6), "abc...");
  EXPECT_EQ(Truncate("abc", 6), "abc");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(FormatUtc(absl::InfiniteFuture()), "infinity");
}

}  // namespace
}  // namespace qg_cli
