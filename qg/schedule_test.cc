#include "qg/schedule.h"

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/testing/status_matchers.h"

namespace qg {
namespace {

using ::qg_testing::IsOk;
using ::qg_testing::StatusIs;
using ::testing::HasSubstr;

constexpr const char kUtc[] = "UTC";
constexpr const char kNewYork[] = "America/New_York";
constexpr const char kBerlin[] = "Europe/Berlin";

// An RFC 3339 time such as "2024-03-10T03:00:00-04:00".
absl::Time T(const std::string& text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    ADD_FAILURE() << "bad time in test: " << text << ": " << error;
  }
  return t;
}

// `t` in `zone`, with its offset, for failure messages.
std::string Show(absl::Time t, const std::string& zone) {
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(zone, &tz)) tz = absl::UTCTimeZone();
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*S%Ez %a", t, tz);
}

// One Next() or Prev() expectation: from `from`, in `zone`, expect `want`.
struct Case {
  const char* spec;
  const char* zone;
  const char* from;
  const char* want;
};

void CheckCases(const std::vector<Case>& cases, bool next) {
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(next ? "Next" : "Prev", "(\"", c.spec, "\", ",
                              c.zone, ", ", c.from, ")"));
    absl::StatusOr<Schedule> schedule = Schedule::Parse(c.spec, c.zone);
    ASSERT_THAT(schedule, IsOk());
    const absl::Time got =
        next ? schedule->Next(T(c.from)) : schedule->Prev(T(c.from));
    EXPECT_EQ(got, T(c.want))
        << "got " << Show(got, c.zone) << ", want " << Show(T(c.want), c.zone);
  }
}

TEST(ScheduleTest, NextFindsFirstOccurrenceStrictlyAfter) {
  CheckCases(
      {
          // Every syntax form.
          {"* * * * *", kUtc, "2024-01-01T00:00:30Z", "2024-01-01T00:01:00Z"},
          {"* * * * *", kUtc, "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"},
          {"5 * * * *", kUtc, "2024-01-01T10:05:00Z", "2024-01-01T11:05:00Z"},
          {"*/5 * * * *", kUtc, "2024-01-01T10:07:00Z", "2024-01-01T10:10:00Z"},
          {"10-20/5 * * * *", kUtc, "2024-01-01T10:21:00Z",
           "2024-01-01T11:10:00Z"},
          {"50/5 * * * *", kUtc, "2024-01-01T10:56:00Z",
           "2024-01-01T11:50:00Z"},
          {"1,5,10-12 * * * *", kUtc, "2024-01-01T10:05:00Z",
           "2024-01-01T10:10:00Z"},
          {"1,5,10-12 * * * *", kUtc, "2024-01-01T10:12:00Z",
           "2024-01-01T11:01:00Z"},
          {"0 9-17/4 * * *", kUtc, "2024-01-01T14:00:00Z",
           "2024-01-01T17:00:00Z"},
          {"0 9-17/4 * * *", kUtc, "2024-01-01T17:00:00Z",
           "2024-01-02T09:00:00Z"},
          {"  */5  *\t* * *  ", kUtc, "2024-01-01T10:07:00Z",
           "2024-01-01T10:10:00Z"},
          // Names, case-insensitive, in lists, ranges and stepped ranges.
          {"0 0 1 JAN,jul *", kUtc, "2024-03-05T00:00:00Z",
           "2024-07-01T00:00:00Z"},
          {"0 0 1 jan-MAR/2 *", kUtc, "2024-01-01T00:00:00Z",
           "2024-03-01T00:00:00Z"},
          {"0 0 * * mon-FRI", kUtc, "2024-03-02T12:00:00Z",  // a Saturday
           "2024-03-04T00:00:00Z"},
          // Sunday is 0, 7 and SUN.
          {"0 0 * * 0", kUtc, "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},
          {"0 0 * * 7", kUtc, "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},
          {"0 0 * * sun", kUtc, "2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"},
          {"0 0 * * 5-7", kUtc, "2024-03-03T00:00:00Z", "2024-03-08T00:00:00Z"},
          // `a/n` in day-of-week runs to Saturday: 1/2 is Mon, Wed, Fri.
          {"0 0 * * 1/2", kUtc, "2024-03-01T00:00:00Z", "2024-03-04T00:00:00Z"},
          // Both day fields restricted: either matches (13th or Friday).
          {"0 0 13 * FRI", kUtc, "2024-03-01T00:00:00Z",
           "2024-03-08T00:00:00Z"},
          {"0 0 13 * FRI", kUtc, "2024-03-08T00:00:00Z",
           "2024-03-13T00:00:00Z"},
          {"0 0 13 * FRI", kUtc, "2024-03-13T00:00:00Z",
           "2024-03-15T00:00:00Z"},
          // One starred: only the other applies.
          {"0 0 13 * *", kUtc, "2024-03-01T00:00:00Z", "2024-03-13T00:00:00Z"},
          {"0 0 * * FRI", kUtc, "2024-03-08T00:00:00Z", "2024-03-15T00:00:00Z"},
          // `*/2` starts with `*`, so both must match: odd days that are
          // Fridays (Vixie cron). 2024-03-08 is an even Friday.
          {"0 0 */2 * FRI", kUtc, "2024-03-01T00:00:00Z",
           "2024-03-15T00:00:00Z"},
          // February 29: leap years only, and 2100 is not one.
          {"0 0 29 2 *", kUtc, "2024-02-28T12:00:00Z", "2024-02-29T00:00:00Z"},
          {"0 0 29 2 *", kUtc, "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
          {"0 0 29 2 *", kUtc, "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"},
          // February 30 never exists, but with a weekday it means "or".
          {"0 0 30 2 MON", kUtc, "2024-02-26T00:00:00Z",
           "2025-02-03T00:00:00Z"},
          // The rarest kind: February 1 on a Sunday (both fields start
          // with `*`, so both apply): 2032, then 2037.
          {"0 0 */31 2 */7", kUtc, "2032-02-01T00:00:00Z",
           "2037-02-01T00:00:00Z"},
          // Month ends skip months too short.
          {"0 0 31 * *", kUtc, "2024-01-31T00:00:00Z", "2024-03-31T00:00:00Z"},
          {"0 0 31 * *", kUtc, "2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z"},
          {"0 0 30 * *", kUtc, "2023-01-30T00:00:00Z", "2023-03-30T00:00:00Z"},
          // Year boundaries.
          {"59 23 31 12 *", kUtc, "2024-12-31T23:59:00Z",
           "2025-12-31T23:59:00Z"},
          {"0 0 1 1 *", kUtc, "2024-12-31T23:59:59.5Z", "2025-01-01T00:00:00Z"},
          // Macros.
          {"@yearly", kUtc, "2024-03-05T00:00:00Z", "2025-01-01T00:00:00Z"},
          {"@annually", kUtc, "2024-03-05T00:00:00Z", "2025-01-01T00:00:00Z"},
          {"@monthly", kUtc, "2024-01-31T12:00:00Z", "2024-02-01T00:00:00Z"},
          {"@weekly", kUtc, "2024-03-06T00:00:00Z", "2024-03-10T00:00:00Z"},
          {"@daily", kUtc, "2024-03-06T00:00:00Z", "2024-03-07T00:00:00Z"},
          {"@midnight", kUtc, "2024-03-06T00:00:00Z", "2024-03-07T00:00:00Z"},
          {"@DAILY", kUtc, "2024-03-06T00:00:00Z", "2024-03-07T00:00:00Z"},
          {"@hourly", kUtc, "2024-03-06T10:59:59Z", "2024-03-06T11:00:00Z"},
          // @every: multiples of the period since the Unix epoch.
          {"@every 30s", kUtc, "2024-01-01T00:00:10Z", "2024-01-01T00:00:30Z"},
          {"@every 1h30m", kUtc, "2024-01-01T00:00:00Z",
           "2024-01-01T01:30:00Z"},
          {"@every 7m", kUtc, "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"},
          {"@every 7s", kUtc, "1970-01-01T00:01:40Z", "1970-01-01T00:01:45Z"},
          {"@every 7s", kUtc, "1970-01-01T00:00:00Z", "1970-01-01T00:00:07Z"},
          {"@every 7s", kUtc, "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z"},
          // The zone plays no part: on the UTC hour, not Kolkata's.
          {"@every 1h", "Asia/Kolkata", "2024-01-01T00:00:00+05:30",
           "2024-01-01T00:30:00+05:30"},
          // Cron fields are local wall time.
          {"0 9 * * *", kBerlin, "2024-01-15T00:00:00Z",
           "2024-01-15T09:00:00+01:00"},
          {"0 9 * * *", "Asia/Kolkata", "2024-01-15T00:00:00Z",
           "2024-01-15T09:00:00+05:30"},
      },
      /*next=*/true);
}

TEST(ScheduleTest, NextFiresSkippedWallTimesOnceAfterSpringForwardGap) {
  CheckCases(
      {
          // New York, 2024-03-10: 02:00 EST -> 03:00 EDT.
          {"30 2 * * *", kNewYork, "2024-03-10T00:00:00-05:00",
           "2024-03-10T03:00:00-04:00"},
          {"30 2 * * *", kNewYork, "2024-03-10T03:00:00-04:00",
           "2024-03-11T02:30:00-04:00"},
          {"0 2 * * *", kNewYork, "2024-03-09T12:00:00-05:00",
           "2024-03-10T03:00:00-04:00"},
          // Hourly: 01:00 EST, then 03:00 EDT once (for 02:00 and 03:00),
          // then 04:00 EDT.
          {"0 * * * *", kNewYork, "2024-03-10T01:00:00-05:00",
           "2024-03-10T03:00:00-04:00"},
          {"0 * * * *", kNewYork, "2024-03-10T03:00:00-04:00",
           "2024-03-10T04:00:00-04:00"},
          {"*/15 * * * *", kNewYork, "2024-03-10T01:45:00-05:00",
           "2024-03-10T03:00:00-04:00"},
          {"*/15 * * * *", kNewYork, "2024-03-10T03:00:00-04:00",
           "2024-03-10T03:15:00-04:00"},
          // Berlin, 2024-03-31: 02:00 CET -> 03:00 CEST.
          {"30 2 * * *", kBerlin, "2024-03-31T00:00:00+01:00",
           "2024-03-31T03:00:00+02:00"},
          {"0 * * * *", kBerlin, "2024-03-31T01:00:00+01:00",
           "2024-03-31T03:00:00+02:00"},
          {"0 * * * *", kBerlin, "2024-03-31T03:00:00+02:00",
           "2024-03-31T04:00:00+02:00"},
          // Sao Paulo, 2018-11-04: midnight itself is skipped (00:00 ->
          // 01:00); @daily still fires that day, at 01:00.
          {"@daily", "America/Sao_Paulo", "2018-11-03T12:00:00-03:00",
           "2018-11-04T01:00:00-02:00"},
          // Lord Howe, 2024-10-06: a half-hour jump, 02:00 -> 02:30.
          {"15 2 * * *", "Australia/Lord_Howe", "2024-10-06T00:00:00+10:30",
           "2024-10-06T02:30:00+11:00"},
      },
      /*next=*/true);
}

TEST(ScheduleTest, NextFiresRepeatedWallTimesOnceAtFirstInstance) {
  CheckCases(
      {
          // New York, 2024-11-03: 02:00 EDT -> 01:00 EST; 01:xx twice.
          {"30 1 * * *", kNewYork, "2024-11-03T00:00:00-04:00",
           "2024-11-03T01:30:00-04:00"},
          {"30 1 * * *", kNewYork, "2024-11-03T01:30:00-04:00",
           "2024-11-04T01:30:00-05:00"},
          // Hourly: 01:00 EDT, then 02:00 EST; nothing in the second 01:xx.
          {"0 * * * *", kNewYork, "2024-11-03T01:00:00-04:00",
           "2024-11-03T02:00:00-05:00"},
          {"0 * * * *", kNewYork, "2024-11-03T01:00:00-05:00",
           "2024-11-03T02:00:00-05:00"},
          {"*/20 * * * *", kNewYork, "2024-11-03T01:40:00-04:00",
           "2024-11-03T02:00:00-05:00"},
          {"*/20 * * * *", kNewYork, "2024-11-03T01:10:00-05:00",
           "2024-11-03T02:00:00-05:00"},
          // Berlin, 2024-10-27: 03:00 CEST -> 02:00 CET; 02:xx twice.
          {"30 2 * * *", kBerlin, "2024-10-27T00:00:00+02:00",
           "2024-10-27T02:30:00+02:00"},
          {"30 2 * * *", kBerlin, "2024-10-27T02:30:00+02:00",
           "2024-10-28T02:30:00+01:00"},
          {"0 * * * *", kBerlin, "2024-10-27T02:00:00+02:00",
           "2024-10-27T03:00:00+01:00"},
          {"0 * * * *", kBerlin, "2024-10-27T02:00:00+01:00",
           "2024-10-27T03:00:00+01:00"},
      },
      /*next=*/true);
}

TEST(ScheduleTest, PrevFindsLatestOccurrenceAtOrBefore) {
  CheckCases(
      {
          {"* * * * *", kUtc, "2024-01-01T00:00:30Z", "2024-01-01T00:00:00Z"},
          {"* * * * *", kUtc, "2024-01-01T00:01:00Z", "2024-01-01T00:01:00Z"},
          {"*/15 * * * *", kUtc, "2024-01-01T12:07:30Z",
           "2024-01-01T12:00:00Z"},
          {"10-20/5 * * * *", kUtc, "2024-01-01T10:09:00Z",
           "2024-01-01T09:20:00Z"},
          {"0 0 13 * FRI", kUtc, "2024-03-12T00:00:00Z",
           "2024-03-08T00:00:00Z"},
          {"0 0 * * 7", kUtc, "2024-03-09T00:00:00Z", "2024-03-03T00:00:00Z"},
          {"0 0 29 2 *", kUtc, "2028-02-28T23:59:00Z", "2024-02-29T00:00:00Z"},
          {"0 0 29 2 *", kUtc, "2104-02-28T00:00:00Z", "2096-02-29T00:00:00Z"},
          {"0 0 */31 2 */7", kUtc, "2037-01-31T00:00:00Z",
           "2032-02-01T00:00:00Z"},
          {"0 0 31 * *", kUtc, "2024-05-30T00:00:00Z", "2024-03-31T00:00:00Z"},
          {"0 0 1 1 *", kUtc, "2024-12-31T23:59:59Z", "2024-01-01T00:00:00Z"},
          {"59 23 31 12 *", kUtc, "2025-01-01T00:00:00Z",
           "2024-12-31T23:59:00Z"},
          {"@weekly", kUtc, "2024-03-09T23:59:00Z", "2024-03-03T00:00:00Z"},
          {"@every 7s", kUtc, "1969-12-31T23:59:59Z", "1969-12-31T23:59:53Z"},
          {"@every 7s", kUtc, "1970-01-01T00:00:07Z", "1970-01-01T00:00:07Z"},
          {"@every 1h30m", kUtc, "2024-01-01T01:29:59Z",
           "2024-01-01T00:00:00Z"},
          // Spring forward: the skipped 02:30 fired at 03:00 EDT.
          {"30 2 * * *", kNewYork, "2024-03-10T03:00:00-04:00",
           "2024-03-10T03:00:00-04:00"},
          {"30 2 * * *", kNewYork, "2024-03-10T01:59:59-05:00",
           "2024-03-09T02:30:00-05:00"},
          {"0 * * * *", kNewYork, "2024-03-10T03:30:00-04:00",
           "2024-03-10T03:00:00-04:00"},
          {"30 2 * * *", kBerlin, "2024-03-31T03:10:00+02:00",
           "2024-03-31T03:00:00+02:00"},
          // Fall back: in the second 01:xx, everything in the repeated hour
          // already fired at its first instance.
          {"0 * * * *", kNewYork, "2024-11-03T01:30:00-05:00",
           "2024-11-03T01:00:00-04:00"},
          {"0 * * * *", kNewYork, "2024-11-03T02:00:00-05:00",
           "2024-11-03T02:00:00-05:00"},
          {"*/20 * * * *", kNewYork, "2024-11-03T01:10:00-05:00",
           "2024-11-03T01:40:00-04:00"},
          {"30 1 * * *", kNewYork, "2024-11-03T01:29:00-05:00",
           "2024-11-03T01:30:00-04:00"},
          {"30 1 * * *", kNewYork, "2024-11-03T01:29:00-04:00",
           "2024-11-02T01:30:00-04:00"},
          {"0 * * * *", kBerlin, "2024-10-27T02:59:00+01:00",
           "2024-10-27T02:00:00+02:00"},
      },
      /*next=*/false);
}

TEST(ScheduleTest, InfiniteTimesAreReturnedUnchanged) {
  for (const char* spec : {"* * * * *", "@every 1m"}) {
    QG_ASSERT_OK_AND_ASSIGN(Schedule s, Schedule::Parse(spec));
    EXPECT_EQ(s.Next(absl::InfiniteFuture()), absl::InfiniteFuture()) << spec;
    EXPECT_EQ(s.Next(absl::InfinitePast()), absl::InfinitePast()) << spec;
    EXPECT_EQ(s.Prev(absl::InfiniteFuture()), absl::InfiniteFuture()) << spec;
    EXPECT_EQ(s.Prev(absl::InfinitePast()), absl::InfinitePast()) << spec;
  }
}

TEST(ScheduleTest, KeepsSpecAndZoneForDisplay) {
  QG_ASSERT_OK_AND_ASSIGN(Schedule cron,
                          Schedule::Parse(" */5 * * * * ", kBerlin));
  EXPECT_EQ(cron.spec(), "*/5 * * * *");
  EXPECT_EQ(cron.time_zone(), kBerlin);
  EXPECT_EQ(cron.ToString(), "*/5 * * * * (Europe/Berlin)");

  QG_ASSERT_OK_AND_ASSIGN(Schedule daily, Schedule::Parse("@daily"));
  EXPECT_EQ(daily.spec(), "@daily");
  EXPECT_EQ(daily.ToString(), "@daily (UTC)");

  QG_ASSERT_OK_AND_ASSIGN(Schedule every, Schedule::Parse("@every 1h30m"));
  EXPECT_EQ(every.ToString(), "@every 1h30m (UTC)");
}

TEST(ScheduleTest, RejectsBadSpecsNamingFieldAndToken) {
  struct Bad {
    const char* spec;
    const char* zone;
    const char* message;  // a substring of the error
  };
  const Bad kBad[] = {
      {"", kUtc, "schedule is empty"},
      {" \t ", kUtc, "schedule is empty"},
      {"* * * *", kUtc, "has 4 fields, want 5"},
      {"* * * * * *", kUtc, "has 6 fields, want 5"},
      {"60 * * * *", kUtc, R"(cron field 1 (minute) "60": out of range 0-59)"},
      {"0 25 * * *", kUtc, R"(cron field 2 (hour) "25": out of range 0-23)"},
      {"0 1,25 * * *", kUtc, R"(cron field 2 (hour) "25": out of range)"},
      {"0 20-25 * * *", kUtc,
       R"(cron field 2 (hour) "20-25": 25 is out of range 0-23)"},
      {"0 0 0 * *", kUtc,
       R"(cron field 3 (day-of-month) "0": out of range 1-31)"},
      {"0 0 32 * *", kUtc, R"(cron field 3 (day-of-month) "32")"},
      {"0 0 * 13 *", kUtc, R"(cron field 4 (month) "13": out of range 1-12)"},
      {"0 0 * * 8", kUtc,
       R"(cron field 5 (day-of-week) "8": out of range 0-7)"},
      {"99999999999 * * * *", kUtc, "out of range 0-59"},
      {"*/0 * * * *", kUtc,
       R"(cron field 1 (minute) "*/0": step 0 is out of range 1-60)"},
      {"*/61 * * * *", kUtc, "step 61 is out of range 1-60"},
      {"0 0 * * */8", kUtc, "step 8 is out of range 1-7"},
      {"*/ * * * *", kUtc, R"("*/": step is not a number)"},
      {"0 0 * * */MON", kUtc, "step is not a number"},
      {"*/5/2 * * * *", kUtc, "more than one '/'"},
      {"5-1 * * * *", kUtc,
       R"(cron field 1 (minute) "5-1": range is reversed (5 > 1))"},
      {"0 0 * * FRI-MON", kUtc, "range is reversed (5 > 1)"},
      {"0 0 * * 7/2", kUtc, "start 7 is after 6"},
      {"1-2-3 * * * *", kUtc, "more than one '-'"},
      {"1- * * * *", kUtc, R"("1-": missing a value)"},
      {"-5 * * * *", kUtc, "missing a value"},
      {"1,,2 * * * *", kUtc,
       R"(cron field 1 (minute) "1,,2": empty list element)"},
      {"x * * * *", kUtc, R"(cron field 1 (minute) "x": not a number)"},
      {"+5 * * * *", kUtc, "not a number"},
      {"JAN * * * *", kUtc, R"(cron field 1 (minute) "JAN": not a number)"},
      {"0 0 * FOO *", kUtc,
       R"(cron field 4 (month) "FOO": "FOO" is not a number or a name )"
       R"((JAN-DEC))"},
      {"0 0 * * MON-FOO", kUtc,
       R"(cron field 5 (day-of-week) "MON-FOO": "FOO" is not a number or )"
       R"(a name (SUN-SAT))"},
      {"0 0 * * MONDAY", kUtc, "not a number or a name"},
      {"0 0 30 2 *", kUtc, "never fires"},
      {"0 0 30,31 2 *", kUtc, "never fires"},
      {"0 0 31 4,6,9,11 *", kUtc, "never fires"},
      {"0 0 31 2 */2", kUtc, "never fires"},
      {"@fortnightly", kUtc, R"(unknown schedule macro "@fortnightly")"},
      {"@daily 5", kUtc, "@daily takes no fields"},
      {"@every", kUtc, "@every takes one duration"},
      {"@every 1m 2m", kUtc, "@every takes one duration"},
      {"@every soon", kUtc, R"(@every "soon": not a duration)"},
      {"@every 0s", kUtc, R"(@every "0s": must be at least 1s)"},
      {"@every -1m", kUtc, R"(@every "-1m": must be at least 1s)"},
      {"@every 500ms", kUtc, "must be at least 1s"},
      {"@every inf", kUtc, "must be at least 1s and finite"},
      {"@every 1.5s", kUtc, R"(@every "1.5s": not a whole number of seconds)"},
      {"* * * * *", "Mars/Olympus", R"(unknown time zone "Mars/Olympus")"},
      {"@every 1m", "Mars/Olympus", R"(unknown time zone "Mars/Olympus")"},
      {"* * * * *", "localtime", R"(unknown time zone "localtime")"},
      {"* * * * *", "", "time zone is empty"},
  };
  for (const Bad& bad : kBad) {
    EXPECT_THAT(
        Schedule::Parse(bad.spec, bad.zone),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad.message)))
        << "spec \"" << bad.spec << "\" zone \"" << bad.zone << "\"";
  }
}

TEST(ScheduleTest, AcceptsSpecsThatFireRarely) {
  for (const char* spec :
       {"0 0 29 2 *", "0 0 30 2 MON", "0 0 31 1-2 *", "0 0 */31 2 */7",
        "59 23 31 DEC SAT", "*/60 */24 */31 */12 */7",
        "0-59 0-23 1-31 1-12 0-7", "00 05 01 01 *"}) {
    EXPECT_THAT(Schedule::Parse(spec, kNewYork), IsOk()) << spec;
  }
}

// Occurrences by brute force: every wall-time minute of a window that the
// predicate accepts, fired by the DST policy in the header. Next() and Prev()
// walked across the window must give exactly these.
TEST(ScheduleTest, MatchesBruteForceAcrossWindows) {
  using Pred = std::function<bool(absl::CivilMinute)>;
  auto weekday = [](absl::CivilMinute c) {
    return absl::GetWeekday(absl::CivilDay(c));
  };
  struct Window {
    const char* spec;
    const char* zone;
    Pred matches;
    absl::CivilMinute begin;
    absl::CivilMinute end;
  };
  const Pred hourly = [](absl::CivilMinute c) { return c.minute() == 0; };
  const Pred every_20_from_1_to_3 = [](absl::CivilMinute c) {
    return c.minute() % 20 == 0 && c.hour() >= 1 && c.hour() <= 3;
  };
  const Pred at_0230 = [](absl::CivilMinute c) {
    return c.hour() == 2 && c.minute() == 30;
  };
  const Pred every_minute = [](absl::CivilMinute) { return true; };
  const Pred friday_or_13th = [&](absl::CivilMinute c) {
    return c.hour() == 0 && c.minute() == 0 &&
           (c.day() == 13 || weekday(c) == absl::Weekday::friday);
  };
  const Pred sunday_every_10 = [&](absl::CivilMinute c) {
    return c.minute() % 10 == 0 && weekday(c) == absl::Weekday::sunday;
  };
  const Pred leap_day = [](absl::CivilMinute c) {
    return c.month() == 2 && c.day() == 29 && c.hour() == 0 && c.minute() == 0;
  };
  using M = absl::CivilMinute;
  const Window kWindows[] = {
      {"0 * * * *", kNewYork, hourly, M(2024, 3, 9), M(2024, 3, 12)},
      {"0 * * * *", kNewYork, hourly, M(2024, 11, 2), M(2024, 11, 5)},
      {"*/20 1-3 * * *", kNewYork, every_20_from_1_to_3, M(2024, 3, 9),
       M(2024, 3, 12)},
      {"*/20 1-3 * * *", kNewYork, every_20_from_1_to_3, M(2024, 11, 2),
       M(2024, 11, 5)},
      {"* * * * *", kNewYork, every_minute, M(2024, 11, 2, 23),
       M(2024, 11, 3, 4)},
      {"* * * * *", kBerlin, every_minute, M(2024, 3, 30, 23),
       M(2024, 3, 31, 5)},
      {"30 2 * * *", kBerlin, at_0230, M(2024, 3, 28), M(2024, 4, 2)},
      {"30 2 * * *", kBerlin, at_0230, M(2024, 10, 25), M(2024, 10, 30)},
      {"0 * * * *", kBerlin, hourly, M(2024, 10, 26), M(2024, 10, 29)},
      {"0 * * * *", "Australia/Lord_Howe", hourly, M(2024, 4, 6),
       M(2024, 4, 8)},
      {"*/20 1-3 * * *", "Australia/Lord_Howe", every_20_from_1_to_3,
       M(2024, 10, 5), M(2024, 10, 8)},
      {"0 0 13 * FRI", kUtc, friday_or_13th, M(2024, 1, 1), M(2025, 1, 1)},
      {"*/10 * * * 0", kBerlin, sunday_every_10, M(2024, 1, 1), M(2025, 1, 1)},
      {"0 0 29 2 *", kUtc, leap_day, M(2095, 1, 1), M(2106, 1, 1)},
  };
  for (const Window& w : kWindows) {
    SCOPED_TRACE(absl::StrCat(w.spec, " in ", w.zone, " from ",
                              absl::FormatCivilTime(w.begin)));
    absl::TimeZone zone;
    ASSERT_TRUE(absl::LoadTimeZone(w.zone, &zone));
    QG_ASSERT_OK_AND_ASSIGN(Schedule schedule, Schedule::Parse(w.spec, w.zone));

    std::vector<absl::Time> want;
    for (absl::CivilMinute c = w.begin; c < w.end; ++c) {
      if (!w.matches(c)) continue;
      const absl::TimeZone::TimeInfo info = zone.At(absl::CivilSecond(c));
      const absl::Time fire = info.kind == absl::TimeZone::TimeInfo::SKIPPED
                                  ? info.trans
                                  : info.pre;
      if (want.empty() || want.back() != fire) want.push_back(fire);
    }
    ASSERT_FALSE(want.empty());
    // The windows start and end away from transitions, where wall time is
    // one instant.
    const absl::Time begin = zone.At(absl::CivilSecond(w.begin)).pre;
    const absl::Time end = zone.At(absl::CivilSecond(w.end)).pre;

    std::vector<absl::Time> forward;
    for (absl::Time t = schedule.Next(begin - absl::Nanoseconds(1)); t < end;
         t = schedule.Next(t)) {
      forward.push_back(t);
    }
    std::vector<absl::Time> backward;
    for (absl::Time t = schedule.Prev(end - absl::Nanoseconds(1)); t >= begin;
         t = schedule.Prev(t - absl::Nanoseconds(1))) {
      backward.insert(backward.begin(), t);
    }
    EXPECT_EQ(forward, want);
    EXPECT_EQ(backward, want);
  }
}

// For many start times t: Prev(t) <= t < Next(t), nothing fires in between
// (Next(Prev(t)) == Next(t)), and each returns fixed points of the other.
TEST(ScheduleTest, NextAndPrevAgreeFromManyStartTimes) {
  struct Spec {
    const char* spec;
    const char* zone;
  };
  const Spec kSpecs[] = {
      {"*/7 3-5 * * MON-FRI", kNewYork},
      {"0 * * * *", kNewYork},
      {"30 1 * * *", kNewYork},
      {"30 2 * * *", kBerlin},
      {"*/20 1-3 * * *", kBerlin},
      {"0 0 29 2 *", kUtc},
      {"0 0 13 * FRI", "Australia/Lord_Howe"},
      {"0 0 */31 2 */7", kUtc},
      {"@every 90m", kBerlin},
      {"@every 7s", kUtc},
  };
  // Uniform times in 2000-2040, plus times near this year's transitions.
  std::mt19937_64 random(20240310);
  std::vector<absl::Time> starts;
  std::uniform_int_distribution<int64_t> seconds(
      absl::ToUnixSeconds(T("2000-01-01T00:00:00Z")),
      absl::ToUnixSeconds(T("2040-01-01T00:00:00Z")));
  for (int i = 0; i < 300; ++i) {
    starts.push_back(absl::FromUnixSeconds(seconds(random)) +
                     absl::Milliseconds(i % 3 == 0 ? 0 : random() % 60000));
  }
  for (const char* transition :
       {"2024-03-10T07:00:00Z", "2024-11-03T06:00:00Z", "2024-03-31T01:00:00Z",
        "2024-10-27T01:00:00Z", "2024-04-06T15:00:00Z",
        "2024-10-05T15:30:00Z"}) {
    for (int minutes = -200; minutes <= 200; minutes += 7) {
      starts.push_back(T(transition) + absl::Minutes(minutes));
    }
  }

  for (const Spec& spec : kSpecs) {
    SCOPED_TRACE(absl::StrCat(spec.spec, " in ", spec.zone));
    QG_ASSERT_OK_AND_ASSIGN(Schedule s, Schedule::Parse(spec.spec, spec.zone));
    for (absl::Time t : starts) {
      const absl::Time next = s.Next(t);
      const absl::Time prev = s.Prev(t);
      ASSERT_GT(next, t) << Show(t, spec.zone);
      ASSERT_LE(prev, t) << Show(t, spec.zone);
      ASSERT_NE(prev, absl::InfinitePast()) << Show(t, spec.zone);
      EXPECT_EQ(s.Next(prev), next) << Show(t, spec.zone);
      EXPECT_EQ(s.Prev(next), next) << Show(t, spec.zone);
      EXPECT_EQ(s.Prev(prev), prev) << Show(t, spec.zone);
      EXPECT_EQ(s.Prev(next - absl::Nanoseconds(1)), prev)
          << Show(t, spec.zone);
    }
    // Iterated, Next() strictly increases and Prev() walks the same path.
    absl::Time t = starts.front();
    absl::Time last = s.Next(t);
    for (int i = 0; i < 200; ++i) {
      const absl::Time next = s.Next(last);
      ASSERT_GT(next, last) << Show(last, spec.zone);
      EXPECT_EQ(s.Prev(next - absl::Nanoseconds(1)), last)
          << Show(next, spec.zone);
      last = next;
    }
  }
}

}  // namespace
}  // namespace qg
