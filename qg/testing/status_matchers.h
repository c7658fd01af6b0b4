// qg/testing/status_matchers.h
// -----------------------------------------------------------------------------
//
// gtest helpers for `absl::Status` and `absl::StatusOr` (Debian's abseil
// 20220623 predates abseil's own status matchers): the matchers `IsOk()` and
// `StatusIs()`, and the macros `QG_ASSERT_OK`, `QG_EXPECT_OK` and
// `QG_ASSERT_OK_AND_ASSIGN`. The macros carry qg's prefix so that they never
// collide with a monorepo's own `ASSERT_OK` and friends.
//
// Example:
//   EXPECT_THAT(client->Enqueue({}),
//               StatusIs(absl::StatusCode::kInvalidArgument,
//                        HasSubstr("type")));
//   EXPECT_THAT(client->Close(), IsOk());
//   QG_ASSERT_OK_AND_ASSIGN(auto job, client->LockJob(""));
#ifndef QG_TESTING_STATUS_MATCHERS_H_
#define QG_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qg_testing {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOkMatcher, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

template <typename MessageMatcher>
class StatusIsMatcher {
 public:
  StatusIsMatcher(absl::StatusCode code, MessageMatcher message)
      : code_(code), message_(std::move(message)) {}

  template <typename StatusType>
  operator ::testing::Matcher<const StatusType&>() const {  // NOLINT
    absl::StatusCode code = code_;
    ::testing::Matcher<const std::string&> message =
        ::testing::SafeMatcherCast<const std::string&>(message_);
    return ::testing::MakeMatcher(new Impl<StatusType>(code, message));
  }

 private:
  template <typename StatusType>
  class Impl : public ::testing::MatcherInterface<const StatusType&> {
   public:
    Impl(absl::StatusCode code, ::testing::Matcher<const std::string&> message)
        : code_(code), message_(std::move(message)) {}
    bool MatchAndExplain(
        const StatusType& arg,
        ::testing::MatchResultListener* listener) const override {
      const absl::Status& s = GetStatus(arg);
      *listener << "status is " << s;
      return s.code() == code_ && message_.Matches(std::string(s.message()));
    }
    void DescribeTo(std::ostream* os) const override {
      *os << "has code " << absl::StatusCodeToString(code_)
          << " and a message that ";
      message_.DescribeTo(os);
    }

   private:
    absl::StatusCode code_;
    ::testing::Matcher<const std::string&> message_;
  };

  absl::StatusCode code_;
  MessageMatcher message_;
};

}  // namespace internal

// Matches an OK `absl::Status` or `absl::StatusOr<T>`.
inline auto IsOk() { return internal::IsOkMatcher(); }

// Matches a status (or StatusOr) with `code` and a message matching
// `message` (a matcher or a string that must be equal).
template <typename MessageMatcher>
internal::StatusIsMatcher<MessageMatcher> StatusIs(absl::StatusCode code,
                                                   MessageMatcher message) {
  return internal::StatusIsMatcher<MessageMatcher>(code, std::move(message));
}
inline auto StatusIs(absl::StatusCode code) {
  return StatusIs(code, ::testing::_);
}

}  // namespace qg_testing

#define QG_TESTING_CONCAT_INNER_(a, b) a##b
#define QG_TESTING_CONCAT_(a, b) QG_TESTING_CONCAT_INNER_(a, b)

// QG_ASSERT_OK_AND_ASSIGN(lhs, expr): asserts `expr` (a StatusOr) is OK and
// moves its value into `lhs` (which may declare a variable).
#define QG_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  QG_ASSERT_OK_AND_ASSIGN_IMPL_(           \
      QG_TESTING_CONCAT_(_qg_test_statusor_, __LINE__), lhs, expr)
#define QG_ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr)         \
  auto statusor = (expr);                                          \
  ASSERT_TRUE(statusor.ok()) << "status is " << statusor.status(); \
  lhs = std::move(statusor).value()

// QG_ASSERT_OK(expr) / QG_EXPECT_OK(expr): the status (or StatusOr) is OK.
#define QG_ASSERT_OK(expr) ASSERT_THAT((expr), ::qg_testing::IsOk())
#define QG_EXPECT_OK(expr) EXPECT_THAT((expr), ::qg_testing::IsOk())

#endif  // QG_TESTING_STATUS_MATCHERS_H_
