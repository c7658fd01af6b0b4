// qg/schedule.h
// -----------------------------------------------------------------------------
//
// `Schedule` says when a periodic job is due: a five-field cron expression
// evaluated in an IANA time zone, a macro such as `@daily`, or `@every <d>`.
// It is pure: no database, no clock, no I/O after `Parse()` loads the zone.
// The caller brings the time and asks for the occurrence after it.
//
// Example:
//   QG_ASSIGN_OR_RETURN(qg::Schedule s,
//                       qg::Schedule::Parse("30 2 * * MON-FRI",
//                                           "Europe/Berlin"));
//   absl::Time due = s.Next(absl::Now());   // 02:30 Berlin, Mon..Fri
//   absl::Time last = s.Prev(absl::Now());  // the one at or before now
//   s.ToString();  // "30 2 * * MON-FRI (Europe/Berlin)"
//
// Cron syntax (Vixie cron / POSIX; fields separated by whitespace):
//
//   field          values   names
//   1 minute       0-59
//   2 hour         0-23
//   3 day-of-month 1-31
//   4 month        1-12     JAN-DEC
//   5 day-of-week  0-7      SUN-SAT (0 and 7 are both Sunday)
//
// Each field is a comma-separated list of `*`, `v`, `a-b`, `*/n`, `a-b/n` or
// `a/n` (from `a` to the field's maximum, stepping by `n`; in day-of-week the
// maximum is 6, Saturday). Names are case-insensitive and work wherever a
// number does except in steps (`MON-FRI`, `jan,jul`). Ranges must not be
// reversed (`5-1` is an error); a step is 1 up to the field's size.
//
// Day-of-month and day-of-week: when both fields are restricted (neither
// starts with `*`), a day matches when EITHER matches, so `0 0 13 * FRI` runs
// on every 13th and every Friday. When one of them starts with `*` (including
// `*/n`), a day must match both, so effectively only the other one applies.
//
// Macros (case-insensitive): `@yearly` and `@annually` (`0 0 1 1 *`),
// `@monthly` (`0 0 1 * *`), `@weekly` (`0 0 * * 0`), `@daily` and `@midnight`
// (`0 0 * * *`), `@hourly` (`0 * * * *`).
//
// `@every <d>`: `d` in `absl::ParseDuration` syntax (`30s`, `1h30m`), a whole
// number of seconds, at least 1s. Occurrences are the instants `k * d` after
// the Unix epoch, so every process computes the same ones whenever it starts
// (`@every 1h` fires on the hour in UTC; `@every 7m` drifts against the
// clock's hours). The time zone plays no part.
//
// Resolution is whole minutes of local wall time: cron occurrences have
// seconds 0 in the zone.
//
// Daylight saving time (and any other change of a zone's UTC offset):
//
//   * A wall time skipped by a forward jump fires once, at the first instant
//     after the gap. With New York's 02:00 -> 03:00 jump, `30 2 * * *` fires at
//     03:00 EDT that day. Several skipped wall times fire together, once: on
//     that day `0 * * * *` fires at 01:00 EST, 03:00 EDT (for 02:00 and 03:00),
//     04:00 EDT.
//   * A wall time repeated by a backward jump fires once, at its first
//     (earlier) instance. With New York's 02:00 EDT -> 01:00 EST fall-back,
//     `30 1 * * *` fires at 01:30 EDT only, and `0 * * * *` fires at 00:00 EDT,
//     01:00 EDT, 02:00 EST: nothing in the repeated hour, which is why two
//     real hours pass between 01:00 EDT and 02:00 EST.
//
// A `Schedule` is an immutable value: copy it freely and call it from any
// number of threads.
#ifndef QG_SCHEDULE_H_
#define QG_SCHEDULE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace qg {

// Schedule
//
// When a periodic job is due. Build one with `Parse()`.
class Schedule {
 public:
  // Schedule::Parse()
  //
  // Parses `spec`, a five-field cron expression ("min hour dom month dow"), a
  // macro (`@daily`, ...) or `@every <duration>`, with cron fields evaluated
  // in the IANA time zone `time_zone` (for example "Europe/Berlin"). Default
  // zone: "UTC". Surrounding whitespace in `spec` is ignored.
  //
  // Returns `InvalidArgument` naming the problem, for example:
  //   Parse("0 25 * * *")     // cron field 2 (hour) "25": out of range 0-23
  //   Parse("*/0 * * * *")    // cron field 1 (minute) "*/0": step 0 ...
  //   Parse("0 0 30 2 *")     // ... never fires (there is no February 30)
  //   Parse("@every 1.5s")    // ... not a whole number of seconds
  //   Parse("@daily", "Mars/Olympus")   // unknown time zone "Mars/Olympus"
  // Empty specs, a wrong number of fields, unknown macros and names, reversed
  // ranges and `@every` below 1s are errors too. "localtime" is refused: it
  // would make the schedule depend on the machine.
  static absl::StatusOr<Schedule> Parse(absl::string_view spec,
                                        absl::string_view time_zone = "UTC");

  // Schedule::Next()
  //
  // The first occurrence strictly after `t`. Returns `t` itself when `t` is
  // infinite. Cost: a few dozen steps for usual specs (the search skips whole
  // months, days and hours), at most a few thousand for the rarest.
  //
  //   Parse("*/15 * * * *")->Next(12:07:30Z)   // 12:15:00Z
  //   Parse("*/15 * * * *")->Next(12:15:00Z)   // 12:30:00Z
  //   Parse("@every 1h")->Next(12:00:00Z)      // 13:00:00Z
  absl::Time Next(absl::Time t) const;

  // Schedule::Prev()
  //
  // The latest occurrence at or before `t`, so `Prev(Next(t)) == Next(t)`.
  // Returns `t` itself when `t` is infinite, and `absl::InfinitePast()` when
  // there is none (only near the start of the civil calendar: every spec
  // `Parse()` accepts fires at least once every 400 years).
  //
  //   Parse("*/15 * * * *")->Prev(12:07:30Z)   // 12:00:00Z
  //   Parse("*/15 * * * *")->Prev(12:15:00Z)   // 12:15:00Z
  absl::Time Prev(absl::Time t) const;

  // The spec as given to `Parse()`, without surrounding whitespace.
  const std::string& spec() const { return spec_; }

  // The time zone name as given to `Parse()`, e.g. "Europe/Berlin".
  const std::string& time_zone() const { return time_zone_; }

  // The spec and its zone, e.g. "*/5 * * * * (Europe/Berlin)".
  std::string ToString() const;

 private:
  Schedule() = default;

  // Whether `day` passes the day-of-month / day-of-week rule.
  bool DayMatches(absl::CivilDay day) const;
  // The first matching wall-time minute at or after `c`, up to year `last`.
  bool FirstAtOrAfter(absl::CivilMinute c, absl::civil_year_t last,
                      absl::CivilMinute* out) const;
  // The last matching wall-time minute at or before `c`, down to year `first`.
  bool LastAtOrBefore(absl::CivilMinute c, absl::civil_year_t first,
                      absl::CivilMinute* out) const;
  // The instant at which wall time `c` fires (the DST policy above).
  absl::Time Fire(absl::CivilMinute c) const;

  std::string spec_;
  std::string time_zone_;
  absl::TimeZone zone_;

  // `@every`: the period; zero for cron specs.
  absl::Duration every_;

  // Cron: bit v set when value v matches (day-of-week 0-6, Sunday 0).
  uint64_t minutes_ = 0;
  uint32_t hours_ = 0;
  uint32_t days_of_month_ = 0;
  uint16_t months_ = 0;
  uint8_t days_of_week_ = 0;
  // Whether the day-of-month / day-of-week field starts with `*`.
  bool dom_star_ = false;
  bool dow_star_ = false;
};

}  // namespace qg

#endif  // QG_SCHEDULE_H_
