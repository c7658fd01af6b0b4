#include "qg/schedule.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace qg {
namespace {

// How far Next() and Prev() search. Every spec Parse() accepts fires within
// any 400 years: the Gregorian calendar, weekdays included, repeats every 400
// years, and Parse() rejects a spec only when no (month, day) it allows
// exists at all. Usual specs stop after a few steps; this bound only matters
// for the rarest ones (February 29 on a Sunday, at worst 40 years apart).
constexpr absl::civil_year_t kSearchYears = 401;

// One cron field: where it sits, what it is called, which values it takes.
struct Field {
  int number;        // 1-based position, for messages
  const char* name;  // for messages
  int min;
  int max;       // largest value a number may have (7 in day-of-week)
  int star_max;  // where `*` and `a/n` end (6 in day-of-week)
  const char* const* names;  // three-letter names for min.., or null
  int name_count;
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR",
                                       "MAY", "JUN", "JUL", "AUG",
                                       "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kWeekdayNames[] = {"SUN", "MON", "TUE", "WED",
                                         "THU", "FRI", "SAT"};

constexpr Field kFields[5] = {
    {1, "minute", 0, 59, 59, nullptr, 0},
    {2, "hour", 0, 23, 23, nullptr, 0},
    {3, "day-of-month", 1, 31, 31, nullptr, 0},
    {4, "month", 1, 12, 12, kMonthNames, 12},
    {5, "day-of-week", 0, 7, 6, kWeekdayNames, 7},
};

absl::Status FieldError(const Field& field, absl::string_view token,
                        absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("cron field ", field.number, " (", field.name, ") \"",
                   absl::CHexEscape(token), "\": ", problem));
}

bool IsDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Parses `text` (digits, or a name where the field has names) into *value.
// `element` is the list element `text` came from, for messages.
absl::Status ParseValue(const Field& field, absl::string_view element,
                        absl::string_view text, int* value) {
  if (IsDigits(text)) {
    // Anything longer than 4 digits is out of range anyway; this keeps the
    // arithmetic away from overflow.
    int v = 0;
    for (char c : text.substr(0, 5)) v = v * 10 + (c - '0');
    if (text.size() > 4 || v < field.min || v > field.max) {
      std::string range =
          absl::StrCat("out of range ", field.min, "-", field.max);
      return FieldError(
          field, element,
          text == element ? range : absl::StrCat(text, " is ", range));
    }
    *value = v;
    return absl::OkStatus();
  }
  for (int i = 0; i < field.name_count; ++i) {
    if (absl::EqualsIgnoreCase(text, field.names[i])) {
      *value = field.min + i;
      return absl::OkStatus();
    }
  }
  if (text.empty()) return FieldError(field, element, "missing a value");
  if (field.names == nullptr) {
    return FieldError(field, element,
                      text == element
                          ? std::string("not a number")
                          : absl::StrCat("\"", text, "\" is not a number"));
  }
  return FieldError(
      field, element,
      absl::StrCat("\"", text, "\" is not a number or a name (", field.names[0],
                   "-", field.names[field.name_count - 1], ")"));
}

// Parses one field into a bit set (bit v for value v; day-of-week 7 is
// stored as 0).
absl::Status ParseField(const Field& field, absl::string_view text,
                        uint64_t* bits) {
  *bits = 0;
  for (absl::string_view element : absl::StrSplit(text, ',')) {
    if (element.empty()) {
      return FieldError(field, text, "empty list element");
    }
    std::vector<absl::string_view> parts = absl::StrSplit(element, '/');
    if (parts.size() > 2) {
      return FieldError(field, element, "more than one '/'");
    }
    absl::string_view range = parts[0];
    int lo = 0;
    int hi = 0;
    if (range == "*") {
      lo = field.min;
      hi = field.star_max;
    } else {
      std::vector<absl::string_view> ends = absl::StrSplit(range, '-');
      if (ends.size() > 2) {
        return FieldError(field, element, "more than one '-'");
      }
      absl::Status s = ParseValue(field, element, ends[0], &lo);
      if (!s.ok()) return s;
      if (ends.size() == 2) {
        s = ParseValue(field, element, ends[1], &hi);
        if (!s.ok()) return s;
        if (lo > hi) {
          return FieldError(
              field, element,
              absl::StrCat("range is reversed (", lo, " > ", hi, ")"));
        }
      } else if (parts.size() == 2) {
        hi = field.star_max;  // `a/n`: from a to the end of the field
        if (lo > hi) {
          return FieldError(field, element,
                            absl::StrCat("start ", lo, " is after ",
                                         field.star_max, ", where a/n ends"));
        }
      } else {
        hi = lo;
      }
    }
    int step = 1;
    if (parts.size() == 2) {
      const int size = field.star_max - field.min + 1;
      absl::string_view step_text = parts[1];
      if (!IsDigits(step_text)) {
        return FieldError(field, element, "step is not a number");
      }
      step = 0;
      for (char c : step_text.substr(0, 5)) step = step * 10 + (c - '0');
      if (step_text.size() > 4 || step < 1 || step > size) {
        return FieldError(
            field, element,
            absl::StrCat("step ", step_text, " is out of range 1-", size));
      }
    }
    for (int v = lo; v <= hi; v += step) {
      *bits |= uint64_t{1} << (field.number == 5 && v == 7 ? 0 : v);
    }
  }
  return absl::OkStatus();
}

// The smallest set bit >= from (and <= 63) of `bits`, or -1.
int NextBit(uint64_t bits, int from) {
  if (from > 63) return -1;
  uint64_t rest = bits >> from;
  if (rest == 0) return -1;
  int i = from;
  while ((rest & 1) == 0) {
    rest >>= 1;
    ++i;
  }
  return i;
}

// The largest set bit <= from (and >= 0) of `bits`, or -1.
int PrevBit(uint64_t bits, int from) {
  for (int i = from; i >= 0; --i) {
    if (bits & (uint64_t{1} << i)) return i;
  }
  return -1;
}

bool Has(uint64_t bits, int v) { return (bits >> v) & 1; }

int DaysInMonth(int month) {  // February counts 29: it has them sometimes
  constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return kDays[month - 1];
}

struct Macro {
  const char* name;
  const char* cron;
};
constexpr Macro kMacros[] = {
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

// Loads the IANA time zone `name`; "localtime" is refused.
absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("time zone is empty");
  absl::TimeZone zone;
  if (name == "localtime" || !absl::LoadTimeZone(std::string(name), &zone)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown time zone \"", absl::CHexEscape(name),
                     "\" (want an IANA name such as \"Europe/Berlin\")"));
  }
  return zone;
}

// The period of "@every <duration>" (`fields` split from `spec`): a whole
// number of seconds, at least one.
absl::StatusOr<absl::Duration> ParseEvery(
    absl::string_view spec, const std::vector<absl::string_view>& fields) {
  if (fields.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(spec),
                     "\": @every takes one duration, e.g. \"@every 30s\""));
  }
  absl::Duration every;
  if (!absl::ParseDuration(fields[1], &every)) {
    return absl::InvalidArgumentError(
        absl::StrCat("@every \"", absl::CHexEscape(fields[1]),
                     "\": not a duration (e.g. 30s, 5m, 1h30m)"));
  }
  if (every < absl::Seconds(1) || every == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("@every \"", absl::CHexEscape(fields[1]),
                     "\": must be at least 1s and finite"));
  }
  if (every % absl::Seconds(1) != absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("@every \"", absl::CHexEscape(fields[1]),
                     "\": not a whole number of seconds"));
  }
  return every;
}

// The cron spec a macro such as "@daily" (`fields` split from `spec`)
// stands for.
absl::StatusOr<absl::string_view> ExpandMacro(
    absl::string_view spec, const std::vector<absl::string_view>& fields) {
  for (const Macro& macro : kMacros) {
    if (!absl::EqualsIgnoreCase(fields[0], macro.name)) continue;
    if (fields.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", absl::CHexEscape(spec), "\": ", macro.name,
                       " takes no fields"));
    }
    return absl::string_view(macro.cron);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown schedule macro \"", absl::CHexEscape(fields[0]),
      "\" (want @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
      "@hourly or @every <duration>)"));
}

// A five-field cron spec's values as bit sets (see `ParseField`), and
// whether its day fields start with `*` (which decides how the two combine;
// see `DayMatches`).
struct CronBits {
  uint64_t fields[5] = {};
  bool dom_star = false;
  bool dow_star = false;
};

// Whether a spec with a day field starting with `*` fires at all. Then a
// day must match both day fields (see `DayMatches`), which some day does
// exactly when some allowed month has some allowed day of the month: over
// 400 years every date (February 29 included) falls on every weekday. With
// neither field `*`, either may match, and every month has every weekday,
// so such a spec always fires.
bool CanFire(const CronBits& cron) {
  const int first_day = NextBit(cron.fields[2], 1);
  for (int month = 1; month <= 12; ++month) {
    if (Has(cron.fields[3], month) && first_day <= DaysInMonth(month)) {
      return true;
    }
  }
  return false;
}

// The five cron fields (`fields`, split from `spec`), checked to fire at
// all.
absl::StatusOr<CronBits> ParseCron(
    absl::string_view spec, const std::vector<absl::string_view>& fields) {
  if (fields.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cron spec \"", absl::CHexEscape(spec), "\" has ", fields.size(),
        " fields, want 5 (minute hour day-of-month month day-of-week)"));
  }
  CronBits cron;
  for (int i = 0; i < 5; ++i) {
    absl::Status s = ParseField(kFields[i], fields[i], &cron.fields[i]);
    if (!s.ok()) return s;
  }
  cron.dom_star = fields[2][0] == '*';
  cron.dow_star = fields[4][0] == '*';
  if ((cron.dom_star || cron.dow_star) && !CanFire(cron)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cron spec \"", absl::CHexEscape(spec),
                     "\" never fires: no month in field 4 (month) has a day "
                     "in field 3 (day-of-month)"));
  }
  return cron;
}

}  // namespace

absl::StatusOr<Schedule> Schedule::Parse(absl::string_view spec,
                                         absl::string_view time_zone) {
  Schedule schedule;
  spec = absl::StripAsciiWhitespace(spec);
  schedule.spec_ = std::string(spec);
  schedule.time_zone_ = std::string(time_zone);
  absl::StatusOr<absl::TimeZone> zone = LoadZone(time_zone);
  if (!zone.ok()) return zone.status();
  schedule.zone_ = *zone;

  if (spec.empty()) return absl::InvalidArgumentError("schedule is empty");
  std::vector<absl::string_view> fields =
      absl::StrSplit(spec, absl::ByAnyChar(" \t\n\r\f\v"), absl::SkipEmpty());

  if (absl::EqualsIgnoreCase(fields[0], "@every")) {
    absl::StatusOr<absl::Duration> every = ParseEvery(spec, fields);
    if (!every.ok()) return every.status();
    schedule.every_ = *every;
    return schedule;
  }
  if (fields[0][0] == '@') {
    absl::StatusOr<absl::string_view> cron = ExpandMacro(spec, fields);
    if (!cron.ok()) return cron.status();
    absl::StatusOr<Schedule> expanded = Parse(*cron, time_zone);
    if (!expanded.ok()) return expanded.status();
    expanded->spec_ = schedule.spec_;
    return expanded;
  }

  absl::StatusOr<CronBits> cron = ParseCron(spec, fields);
  if (!cron.ok()) return cron.status();
  schedule.minutes_ = cron->fields[0];
  schedule.hours_ = static_cast<uint32_t>(cron->fields[1]);
  schedule.days_of_month_ = static_cast<uint32_t>(cron->fields[2]);
  schedule.months_ = static_cast<uint16_t>(cron->fields[3]);
  schedule.days_of_week_ = static_cast<uint8_t>(cron->fields[4]);
  schedule.dom_star_ = cron->dom_star;
  schedule.dow_star_ = cron->dow_star;
  return schedule;
}

bool Schedule::DayMatches(absl::CivilDay day) const {
  // absl::Weekday counts from Monday = 0; cron from Sunday = 0.
  const int weekday = (static_cast<int>(absl::GetWeekday(day)) + 1) % 7;
  const bool dom = Has(days_of_month_, day.day());
  const bool dow = Has(days_of_week_, weekday);
  return (dom_star_ || dow_star_) ? dom && dow : dom || dow;
}

bool Schedule::FirstAtOrAfter(absl::CivilMinute c, absl::civil_year_t last,
                              absl::CivilMinute* out) const {
  while (c.year() <= last) {
    if (!Has(months_, c.month())) {
      c = absl::CivilMinute(absl::CivilMonth(c) + 1);
      continue;
    }
    if (!DayMatches(absl::CivilDay(c))) {
      c = absl::CivilMinute(absl::CivilDay(c) + 1);
      continue;
    }
    if (!Has(hours_, c.hour())) {
      const int hour = NextBit(hours_, c.hour() + 1);
      c = hour < 0 ? absl::CivilMinute(absl::CivilDay(c) + 1)
                   : absl::CivilMinute(c.year(), c.month(), c.day(), hour, 0);
      continue;
    }
    if (!Has(minutes_, c.minute())) {
      const int minute = NextBit(minutes_, c.minute() + 1);
      c = minute < 0 ? absl::CivilMinute(absl::CivilHour(c) + 1)
                     : absl::CivilMinute(c.year(), c.month(), c.day(), c.hour(),
                                         minute);
      continue;
    }
    *out = c;
    return true;
  }
  return false;
}

bool Schedule::LastAtOrBefore(absl::CivilMinute c, absl::civil_year_t first,
                              absl::CivilMinute* out) const {
  while (c.year() >= first) {
    if (!Has(months_, c.month())) {
      c = absl::CivilMinute(absl::CivilMonth(c)) - 1;
      continue;
    }
    if (!DayMatches(absl::CivilDay(c))) {
      c = absl::CivilMinute(absl::CivilDay(c)) - 1;
      continue;
    }
    if (!Has(hours_, c.hour())) {
      const int hour = PrevBit(hours_, c.hour() - 1);
      c = hour < 0 ? absl::CivilMinute(absl::CivilDay(c)) - 1
                   : absl::CivilMinute(c.year(), c.month(), c.day(), hour, 59);
      continue;
    }
    if (!Has(minutes_, c.minute())) {
      const int minute = PrevBit(minutes_, c.minute() - 1);
      c = minute < 0 ? absl::CivilMinute(absl::CivilHour(c)) - 1
                     : absl::CivilMinute(c.year(), c.month(), c.day(), c.hour(),
                                         minute);
      continue;
    }
    *out = c;
    return true;
  }
  return false;
}

absl::Time Schedule::Fire(absl::CivilMinute c) const {
  const absl::TimeZone::TimeInfo info = zone_.At(absl::CivilSecond(c));
  // UNIQUE: pre == trans == post. SKIPPED: `trans` is the first instant after
  // the gap. REPEATED: `pre` is the earlier instance.
  return info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
}

// Why Next() and Prev() are right: Fire() is monotone (a later wall time
// never fires earlier), and Fire(c) <= t for every wall time c at or before
// t's own wall time. So Next() searches from the minute after t's wall time
// and skips the few matches that fire at or before t anyway (wall times
// repeated later than t's first instance, when t is in the second); Prev()
// searches back from t's wall time, or, when t is in the second instance of
// repeated wall time, from the end of the repeated range, all of which fired
// at its first instance, before t.
absl::Time Schedule::Next(absl::Time t) const {
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) return t;
  if (every_ != absl::ZeroDuration()) {
    return absl::UnixEpoch() + absl::Floor(t - absl::UnixEpoch(), every_) +
           every_;
  }
  absl::CivilMinute c = absl::CivilMinute(zone_.At(t).cs) + 1;
  const absl::civil_year_t last = c.year() + kSearchYears;
  absl::CivilMinute match;
  while (FirstAtOrAfter(c, last, &match)) {
    const absl::Time fire = Fire(match);
    if (fire > t) return fire;
    c = match + 1;
  }
  return absl::InfiniteFuture();
}

absl::Time Schedule::Prev(absl::Time t) const {
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) return t;
  if (every_ != absl::ZeroDuration()) {
    return absl::UnixEpoch() + absl::Floor(t - absl::UnixEpoch(), every_);
  }
  absl::CivilSecond wall = zone_.At(t).cs;
  const absl::TimeZone::TimeInfo info = zone_.At(wall);
  if (info.kind == absl::TimeZone::TimeInfo::REPEATED && t >= info.trans) {
    wall = zone_.At(info.trans - absl::Seconds(1)).cs;
  }
  absl::CivilMinute c = absl::CivilMinute(wall);
  const absl::civil_year_t first = c.year() - kSearchYears;
  absl::CivilMinute match;
  while (LastAtOrBefore(c, first, &match)) {
    const absl::Time fire = Fire(match);
    if (fire <= t) return fire;  // always, by the argument above
    c = match - 1;
  }
  return absl::InfinitePast();
}

std::string Schedule::ToString() const {
  return absl::StrCat(spec_, " (", time_zone_, ")");
}

}  // namespace qg
