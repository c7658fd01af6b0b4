#include "qg/pg.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "qg/conninfo.h"

namespace qg {
namespace {

absl::StatusCode CodeForSqlState(absl::string_view state) {
  if (state.size() != 5) return absl::StatusCode::kInternal;
  absl::string_view cls = state.substr(0, 2);
  if (cls == "08") return absl::StatusCode::kUnavailable;  // connection
  if (state == "57P01" || state == "57P02" || state == "57P03") {
    return absl::StatusCode::kUnavailable;  // admin/crash shutdown
  }
  if (state == "57014") return absl::StatusCode::kCancelled;
  if (state == "40001" || state == "40P01") return absl::StatusCode::kAborted;
  if (cls == "40") return absl::StatusCode::kAborted;
  if (state == "42P01" || state == "3D000") {
    return absl::StatusCode::kFailedPrecondition;  // undefined table/db
  }
  if (state == "42501") return absl::StatusCode::kPermissionDenied;
  // qg-cpp's own (schema functions): no such parent job; a parent that
  // died or was cancelled.
  if (state == "QG001") return absl::StatusCode::kNotFound;
  if (state == "QG002") return absl::StatusCode::kFailedPrecondition;
  // No such batch; a sealed batch.
  if (state == "QG003") return absl::StatusCode::kNotFound;
  if (state == "QG004") return absl::StatusCode::kFailedPrecondition;
  if (cls == "28") return absl::StatusCode::kPermissionDenied;
  if (state == "23505") return absl::StatusCode::kAlreadyExists;
  if (cls == "22" || cls == "23") return absl::StatusCode::kInvalidArgument;
  if (cls == "25") return absl::StatusCode::kFailedPrecondition;
  if (cls == "53") return absl::StatusCode::kResourceExhausted;
  if (cls == "42") return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kInternal;
}

std::string TrimMessage(const char* msg) {
  return std::string(absl::StripTrailingAsciiWhitespace(msg ? msg : ""));
}

// libpq wants NUL-terminated text parameters.
absl::Status ParamPointers(const SqlParams& params,
                           std::vector<const char*>& out) {
  out.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].has_value()) {
      out[i] = nullptr;
      continue;
    }
    if (params[i]->find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "query parameter $", i + 1,
          " contains a NUL byte, which PostgreSQL text cannot store"));
    }
    out[i] = params[i]->c_str();
  }
  return absl::OkStatus();
}

// How errors name an unnamed statement: its first 60 characters with
// whitespace collapsed, e.g. `query "SELECT count(*) FROM que_jobs"`.
std::string StatementLabel(absl::string_view sql) {
  std::string flat;
  for (char c : sql) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space && (flat.empty() || flat.back() == ' ')) continue;
    flat.push_back(space ? ' ' : c);
  }
  while (!flat.empty() && flat.back() == ' ') flat.pop_back();
  if (flat.size() > 60) flat = flat.substr(0, 57) + "...";
  return absl::StrCat("query \"", flat, "\"");
}

// Reads exactly `width` digits (any number, at most 9, when `width` is 0)
// from the front of `s`.
bool TakeDigits(absl::string_view& s, int width, int64_t& out) {
  size_t n = 0;
  while (n < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[n])))
    ++n;
  if (n == 0 || (width > 0 && n != static_cast<size_t>(width)) || n > 9) {
    return false;
  }
  if (width > 0) n = width;
  out = 0;
  for (size_t i = 0; i < n; ++i) out = out * 10 + (s[i] - '0');
  s.remove_prefix(n);
  return true;
}

bool TakeChar(absl::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

}  // namespace

int64_t PgResult::AffectedRows() const {
  if (!res_) return 0;
  int64_t n = 0;
  if (!absl::SimpleAtoi(PQcmdTuples(res_.get()), &n)) return 0;
  return n;
}

std::string SqlState(const absl::Status& status) {
  auto p = status.GetPayload(kSqlStatePayload);
  return p ? std::string(*p) : std::string();
}

namespace {

// The connection parameters `Connect()` opens a session with: the caller's
// (`opts`, parsed), the session settings qg-cpp reads rows by forced on top,
// and defaults for what the caller left unset.
// The settings below, as `SET` statements: for a pooler that refuses the
// `options` startup parameter (PgBouncer does), sent after connecting.
// One statement each: PgBouncer's statement mode refuses a string of
// several (an implicit transaction).
constexpr char kSetTimeZone[] = "SET TimeZone = 'UTC'";
constexpr char kSetDateStyle[] = "SET DateStyle = 'ISO, YMD'";
constexpr char kSetIntervalStyle[] = "SET IntervalStyle = 'postgres'";
constexpr const char* kForcedSettingsSql[] = {kSetTimeZone, kSetDateStyle,
                                              kSetIntervalStyle,
                                              "SET extra_float_digits = 3"};

std::vector<std::pair<std::string, std::string>> SessionParams(
    const PQconninfoOption* opts, bool startup_options, bool* caller_options) {
  // The session settings qg-cpp parses by (timestamps in UTC and ISO
  // format, intervals and floats as PostgreSQL prints them by default, text
  // in UTF-8) are forced, whatever the server, database or role defaults say
  // (`ALTER DATABASE ... SET datestyle = 'SQL, DMY'` would otherwise make
  // every row unparsable). The caller's own `options` are kept.
  constexpr absl::string_view kForced =
      "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres "
      "-c extra_float_digits=3";
  // Defaults the caller may override: a connection attempt and a dead peer
  // are noticed in bounded time (TCP keepalives; ignored on unix sockets).
  std::vector<std::pair<std::string, std::string>> defaults = {
      {"connect_timeout", "10"}, {"keepalives", "1"},
      {"keepalives_idle", "30"}, {"keepalives_interval", "10"},
      {"keepalives_count", "3"}, {"tcp_user_timeout", "60000"}};
  std::vector<std::pair<std::string, std::string>> params;
  bool has_options = false;
  for (const PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    absl::string_view key = o->keyword;
    if (key == "client_encoding") continue;  // forced below
    params.emplace_back(std::string(key), o->val);
    if (key == "options") {
      has_options = true;
      if (startup_options) absl::StrAppend(&params.back().second, " ", kForced);
    }
    for (auto& d : defaults) {
      if (d.first == key) d.first.clear();
    }
  }
  if (!has_options && startup_options) params.emplace_back("options", kForced);
  *caller_options = has_options;
  params.emplace_back("client_encoding", "UTF8");
  for (auto& [key, value] : defaults) {
    if (!key.empty()) params.emplace_back(key, value);
  }
  return params;
}

// Why a connection failed, as a status: a refused login is
// `PermissionDenied`, a missing database `FailedPrecondition`, anything
// else (unreachable, refused, timed out) `Unavailable`.
absl::Status ConnectError(PGconn* conn, absl::string_view conninfo) {
  std::string msg = TrimMessage(PQerrorMessage(conn));
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  if (absl::StrContains(msg, "password authentication failed") ||
      absl::StrContains(msg, "no pg_hba.conf entry") ||
      absl::StrContains(msg, "authentication failed")) {
    code = absl::StatusCode::kPermissionDenied;
  } else if (absl::StrContains(msg, "does not exist")) {
    code = absl::StatusCode::kFailedPrecondition;
  }
  return absl::Status(code, absl::StrCat("cannot connect to PostgreSQL (",
                                         RedactConninfo(conninfo), "): ", msg));
}

// libpq's conninfo parse errors quote the offending value, which may be a
// password ("invalid percent-encoded token: \"pa%zz\""): each quoted value
// becomes "****".
std::string WithoutQuotedValues(absl::string_view msg) {
  std::string out;
  bool quoted = false;
  for (char c : msg) {
    if (c == '"') {
      if (!quoted) out += "\"****\"";
      quoted = !quoted;
    } else if (!quoted) {
      out += c;
    }
  }
  return out;
}

// What PgBouncer's refusal of the caller's own `options` means.
constexpr char kOptionsRefused[] =
    " (a connection pooler such as PgBouncer refuses the `options` "
    "parameter: leave it out of the conninfo, or list it in the pooler's "
    "ignore_startup_parameters)";

// DateStyle, TimeZone and IntervalStyle as qg-cpp parses rows by, from
// what the server reported: none of them SET unless one differs (a pooler
// that drops the `options` startup parameter, PgBouncer's
// ignore_startup_parameters = options).
absl::Status ForceReportedSettings(PGconn* conn) {
  auto is = [&](const char* name, std::initializer_list<const char*> ok) {
    const char* v = PQparameterStatus(conn, name);
    if (v == nullptr) return true;  // not reported: nothing to tell
    for (const char* o : ok) {
      if (absl::EqualsIgnoreCase(v, o)) return true;
    }
    return false;
  };
  const bool date = is("DateStyle", {"ISO, YMD", "ISO, MDY", "ISO, DMY"});
  const bool zone = is("TimeZone", {"UTC", "Etc/UTC"});
  const bool interval = is("IntervalStyle", {"postgres"});
  if (date && zone && interval) return absl::OkStatus();
  for (auto [ok, sql] :
       {std::pair{date, kSetDateStyle}, std::pair{zone, kSetTimeZone},
        std::pair{interval, kSetIntervalStyle}}) {
    if (ok) continue;
    absl::StatusOr<PgResult> r = ExecSimple(conn, sql);
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PgConnPtr> Connect(absl::string_view conninfo) {
  std::string ci(conninfo);
  if (ci.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("conninfo contains a NUL byte");
  }
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(ci.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err ? TrimMessage(err) : "out of memory";
    PQfreemem(err);
    return absl::InvalidArgumentError(
        absl::StrCat("invalid conninfo \"", RedactConninfo(ci),
                     "\": ", WithoutQuotedValues(msg)));
  }
  auto open = [&](bool startup_options, bool* caller_options) {
    std::vector<std::pair<std::string, std::string>> params =
        SessionParams(opts, startup_options, caller_options);
    std::vector<const char*> k, v;
    for (const auto& [key, value] : params) {
      k.push_back(key.c_str());
      v.push_back(value.c_str());
    }
    k.push_back(nullptr);
    v.push_back(nullptr);
    return PgConnPtr(
        PQconnectdbParams(k.data(), v.data(), /*expand_dbname=*/0));
  };
  bool caller_options = false;
  PgConnPtr conn = open(/*startup_options=*/true, &caller_options);
  bool set_after = false;
  if (conn != nullptr && PQstatus(conn.get()) != CONNECTION_OK &&
      !caller_options &&
      absl::StrContains(PQerrorMessage(conn.get()),
                        "unsupported startup parameter: options")) {
    // A pooler (PgBouncer) that passes no `options` on: the settings go in
    // as statements instead. PgBouncer keeps TimeZone and DateStyle for the
    // client whichever server session it lends (it re-sends reported
    // settings); the others are the server's defaults in transaction mode.
    conn = open(/*startup_options=*/false, &caller_options);
    set_after = true;
  }
  PQconninfoFree(opts);
  if (conn == nullptr) return absl::ResourceExhaustedError("out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    absl::Status s = ConnectError(conn.get(), ci);
    if (caller_options &&
        absl::StrContains(s.message(), "unsupported startup parameter")) {
      return absl::Status(s.code(), absl::StrCat(s.message(), kOptionsRefused));
    }
    return s;
  }
  // Server notices ("relation already exists, skipping", "terminating
  // connection due to immediate shutdown") would go to stderr; errors reach
  // callers as statuses instead.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  if (set_after) {
    for (const char* sql : kForcedSettingsSql) {
      absl::StatusOr<PgResult> r = ExecSimple(conn.get(), sql);
      if (!r.ok()) return r.status();
    }
  } else if (absl::Status s = ForceReportedSettings(conn.get()); !s.ok()) {
    return s;
  }
  return conn;
}

absl::Status StatusFromResult(PGconn* conn, const PGresult* res,
                              absl::string_view context) {
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  switch (st) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_SINGLE_TUPLE:
    case PGRES_PIPELINE_SYNC:
    case PGRES_EMPTY_QUERY:
      return absl::OkStatus();
    default:
      break;
  }
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = TrimMessage(res ? PQresultErrorMessage(res) : nullptr);
  if (msg.empty() && conn) msg = TrimMessage(PQerrorMessage(conn));
  absl::StatusCode code;
  if (state != nullptr) {
    code = CodeForSqlState(state);
  } else if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    code = absl::StatusCode::kUnavailable;
  } else {
    code = absl::StatusCode::kInternal;
  }
  if (conn != nullptr && PQstatus(conn) != CONNECTION_OK) {
    code = absl::StatusCode::kUnavailable;
  }
  std::string text = absl::StrCat(context, ": ", msg);
  // qg-cpp's own errors (SQLSTATE QGnnn, raised by its schema functions)
  // are written for the caller: their primary message alone.
  if (state != nullptr && absl::StartsWith(state, "QG")) {
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (primary != nullptr) text = primary;
  }
  if (code == absl::StatusCode::kFailedPrecondition && state != nullptr &&
      absl::string_view(state) == "42P01" &&
      absl::StrContains(msg, "que_jobs")) {
    absl::StrAppend(&text,
                    " (the que_jobs table is missing: run `qg migrate` or "
                    "apply schema/que_jobs.sql)");
  }
  if (state != nullptr && absl::string_view(state) == "25006") {
    absl::StrAppend(&text,
                    " (the server is read-only: a hot standby, or "
                    "default_transaction_read_only is on; changes need the "
                    "primary: list both hosts with "
                    "target_session_attrs=read-write)");
  }
  if (state != nullptr && absl::string_view(state) == "42501") {
    absl::StrAppend(&text,
                    " (this role lacks a privilege qg-cpp needs here: "
                    "`qg grants` prints the GRANTs for the enqueuer, worker "
                    "and operator roles)");
  }
  absl::Status status(code, text);
  if (state != nullptr) status.SetPayload(kSqlStatePayload, absl::Cord(state));
  return status;
}

absl::StatusOr<PgResult> Exec(PGconn* conn, absl::string_view sql,
                              const SqlParams& params) {
  std::vector<const char*> values;
  if (absl::Status s = ParamPointers(params, values); !s.ok()) return s;
  std::string q(sql);
  PgResult r(PQexecParams(conn, q.c_str(), static_cast<int>(values.size()),
                          nullptr, values.data(), nullptr, nullptr, 0));
  if (absl::Status s = StatusFromResult(conn, r.get(), StatementLabel(sql));
      !s.ok()) {
    return s;
  }
  return r;
}

absl::StatusOr<PgResult> ExecSimple(PGconn* conn, absl::string_view sql) {
  std::string q(sql);
  PgResult r(PQexec(conn, q.c_str()));
  if (absl::Status s = StatusFromResult(conn, r.get(), StatementLabel(sql));
      !s.ok()) {
    return s;
  }
  return r;
}

absl::Status Prepare(PGconn* conn, const char* name, const char* sql) {
  PgResult r(PQprepare(conn, name, sql, 0, nullptr));
  return StatusFromResult(conn, r.get(),
                          absl::StrCat("preparing statement ", name));
}

absl::StatusOr<PgResult> ExecPrepared(PGconn* conn, const char* name,
                                      const SqlParams& params) {
  std::vector<const char*> values;
  if (absl::Status s = ParamPointers(params, values); !s.ok()) return s;
  PgResult r(PQexecPrepared(conn, name, static_cast<int>(values.size()),
                            values.data(), nullptr, nullptr, 0));
  if (absl::Status s = StatusFromResult(conn, r.get(), name); !s.ok()) {
    return s;
  }
  return r;
}

std::string FormatTimestamp(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "infinity";
  if (t == absl::InfinitePast()) return "-infinity";
  // Written field by field, not with absl::FormatTime's %Y: PostgreSQL reads
  // a year of fewer than three digits as 19xx/20xx ("50-06-01" is 2050) and
  // knows no negative years (1 BC is astronomical year 0).
  const absl::TimeZone::CivilInfo ci = absl::UTCTimeZone().At(t);
  const absl::CivilSecond cs = ci.cs;
  int64_t year = cs.year();
  const bool bc = year <= 0;
  if (bc) year = 1 - year;
  return absl::StrFormat("%04d-%02d-%02d %02d:%02d:%02d.%06d+00%s", year,
                         cs.month(), cs.day(), cs.hour(), cs.minute(),
                         cs.second(), absl::ToInt64Microseconds(ci.subsecond),
                         bc ? " BC" : "");
}

absl::StatusOr<absl::Time> ParseTimestamp(absl::string_view text) {
  // PostgreSQL (DateStyle ISO) prints "2026-11-29 06:00:00.123456+00": a
  // year of at least four digits (more after 9999), a fraction only when
  // not zero, an offset "+00", "+05:30" or "-03:00:28", and " BC" after
  // the offset for years before 1.
  if (text == "infinity") return absl::InfiniteFuture();
  if (text == "-infinity") return absl::InfinitePast();
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot parse timestamp \"", absl::CHexEscape(text), "\": ", why));
  };
  absl::string_view s = text;
  int64_t year, month, day, hour, minute, second;
  if (!TakeDigits(s, 0, year) || !TakeChar(s, '-') ||
      !TakeDigits(s, 2, month) || !TakeChar(s, '-') || !TakeDigits(s, 2, day) ||
      !TakeChar(s, ' ') || !TakeDigits(s, 2, hour) || !TakeChar(s, ':') ||
      !TakeDigits(s, 2, minute) || !TakeChar(s, ':') ||
      !TakeDigits(s, 2, second)) {
    return bad("not \"YYYY-MM-DD HH:MM:SS\"");
  }
  absl::Duration fraction;
  if (TakeChar(s, '.')) {
    size_t before = s.size();
    int64_t digits = 0;
    if (!TakeDigits(s, 0, digits)) return bad("no digits after '.'");
    for (size_t n = before - s.size(); n < 9; ++n) digits *= 10;
    fraction = absl::Nanoseconds(digits);
  }
  int sign = 0;
  if (TakeChar(s, '+')) {
    sign = 1;
  } else if (TakeChar(s, '-')) {
    sign = -1;
  } else {
    return bad("no UTC offset");
  }
  int64_t offset_parts[3] = {0, 0, 0};
  if (!TakeDigits(s, 2, offset_parts[0])) return bad("bad UTC offset");
  for (int i = 1; i < 3 && TakeChar(s, ':'); ++i) {
    if (!TakeDigits(s, 2, offset_parts[i])) return bad("bad UTC offset");
  }
  const bool bc = s == " BC";
  if (!bc && !s.empty()) return bad("unexpected text after the UTC offset");
  if (year == 0) return bad("there is no year 0");
  const int64_t astronomical_year = bc ? 1 - year : year;
  const absl::CivilSecond cs(astronomical_year, month, day, hour, minute,
                             second);
  if (cs.year() != astronomical_year || cs.month() != month ||
      cs.day() != day || cs.hour() != hour || cs.minute() != minute ||
      cs.second() != second || offset_parts[1] > 59 || offset_parts[2] > 59) {
    return bad("a field is out of range");
  }
  const absl::Duration offset =
      sign * (absl::Hours(offset_parts[0]) + absl::Minutes(offset_parts[1]) +
              absl::Seconds(offset_parts[2]));
  return absl::FromCivil(cs, absl::UTCTimeZone()) + fraction - offset;
}

}  // namespace qg
