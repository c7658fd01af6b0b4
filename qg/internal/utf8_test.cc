#include "qg/internal/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace qg::internal {
namespace {

constexpr char kFffd[] = "\xEF\xBF\xBD";

TEST(StorableTextTest, ValidTextComesBackUnchanged) {
  for (std::string s :
       {std::string(""), std::string("plain ascii"),
        std::string("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
        std::string("tabs\tand\nnewlines")}) {
    EXPECT_EQ(StorableText(s), s);
    EXPECT_TRUE(IsStorableUtf8(s));
  }
}

TEST(StorableTextTest, InvalidSequencesBecomeReplacementCharacters) {
  struct Case {
    std::string in, out;
  } cases[] = {
      {"bad \xff\xfe bytes", std::string("bad ") + kFffd + kFffd + " bytes"},
      // Latin-1 e-acute on its own.
      {"caf\xE9", std::string("caf") + kFffd},
      // A truncated 3-byte sequence is one maximal subpart: one U+FFFD.
      {"x\xE2\x82y", std::string("x") + kFffd + "y"},
      // Overlong '/' (C0 AF): C0 is never valid, AF is a lone continuation.
      {"\xC0\xAF", std::string(kFffd) + kFffd},
      // A UTF-16 surrogate encoded in UTF-8 (ED A0 80).
      {"\xED\xA0\x80", std::string(kFffd) + kFffd + kFffd},
      // Above U+10FFFF (F4 90 80 80).
      {"\xF4\x90\x80\x80", std::string(kFffd) + kFffd + kFffd + kFffd},
      // NUL cannot be stored either.
      {std::string("a\0b", 3), std::string("a") + kFffd + "b"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(StorableText(c.in), c.out) << c.in;
    EXPECT_FALSE(IsStorableUtf8(c.in));
    EXPECT_TRUE(IsStorableUtf8(StorableText(c.in)));
  }
}

TEST(StorableTextTest, LongTextIsCutOnACharacterBoundaryWithEllipsis) {
  // 10 euro signs (3 bytes each) into 16 bytes: 4 of them + "…" (3 bytes).
  std::string euros;
  for (int i = 0; i < 10; ++i) euros += "\xE2\x82\xAC";
  std::string cut = StorableText(euros, 16);
  EXPECT_EQ(cut,
            std::string("\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC") +
                "\xE2\x80\xA6");
  EXPECT_LE(cut.size(), 16u);
  EXPECT_TRUE(IsStorableUtf8(cut));
  // The default limit, with a multi-byte character across it.
  std::string big(kMaxErrorBytes - 1, 'a');
  big += "\xC3\xA9\xC3\xA9";
  std::string stored = StorableText(big);
  EXPECT_LE(stored.size(), kMaxErrorBytes);
  EXPECT_TRUE(IsStorableUtf8(stored));
}

TEST(AsciiTextTest, KeepsPrintableAsciiOnly) {
  EXPECT_EQ(AsciiText("caf\xC3\xA9\tok\n"), "caf??\tok\n");
}

TEST(FirstInvalidUtf8Test, OffsetOfTheFirstBadByteNulAllowed) {
  constexpr auto npos = absl::string_view::npos;
  EXPECT_EQ(FirstInvalidUtf8(""), npos);
  EXPECT_EQ(FirstInvalidUtf8(std::string("a\0b", 3)), npos);
  EXPECT_EQ(FirstInvalidUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80"), npos);
  EXPECT_EQ(FirstInvalidUtf8("bad \xff\xfe"), 4u);
  EXPECT_EQ(FirstInvalidUtf8("ab\xED\xA0\x80"), 2u);     // a surrogate
  EXPECT_EQ(FirstInvalidUtf8("\xC0\xAF"), 0u);           // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("x\xF4\x90\x80\x80"), 1u);  // past U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("xy\xE2\x82"), 2u);         // truncated
}

}  // namespace
}  // namespace qg::internal
