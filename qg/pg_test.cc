// The public libpq helpers (qg/pg.h) against a real PostgreSQL: the session
// settings Connect forces, errors that name the statement and carry their
// SQLSTATE, parameters, and timestamps both ways.
#include "qg/pg.h"

#include <sstream>
#include <string>

#include "absl/numeric/int128.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/internal/pg.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"

namespace qg {
namespace {

using ::qg_testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ConnectTest, ForcesTheSessionSettingsQgParsesBy) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr admin, Connect(db->conninfo()));
  for (const char* sql : {"ALTER DATABASE %s SET datestyle = 'SQL, DMY'",
                          "ALTER DATABASE %s SET intervalstyle = 'iso_8601'",
                          "ALTER DATABASE %s SET extra_float_digits = 0",
                          "ALTER DATABASE %s SET timezone = 'Asia/Kolkata'"}) {
    std::string q = sql;
    q.replace(q.find("%s"), 2, internal::QuoteIdentifier(db->name()));
    QG_ASSERT_OK(ExecSimple(admin.get(), q).status());
  }
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr conn, Connect(db->conninfo()));
  EXPECT_EQ(qg_testing::QueryValue(conn.get(), "SHOW datestyle"), "ISO, YMD");
  EXPECT_EQ(qg_testing::QueryValue(conn.get(), "SHOW intervalstyle"),
            "postgres");
  EXPECT_EQ(qg_testing::QueryValue(conn.get(), "SHOW extra_float_digits"), "3");
  EXPECT_EQ(qg_testing::QueryValue(conn.get(), "SHOW timezone"), "UTC");
  EXPECT_EQ(qg_testing::QueryValue(conn.get(), "SHOW client_encoding"), "UTF8");
}

// libpq's parse errors quote the offending value, which may be a password.
TEST(ConnectTest, AnUnparsableConninfoShowsNoSecret) {
  for (const char* conninfo : {"postgresql://ada:pa%zzs3cret@/app?host=/tmp",
                               "postgresql://ada:s3cr%00et@/app?host=/tmp",
                               "host=/tmp password='s3cret"}) {
    absl::StatusOr<PgConnPtr> conn = Connect(conninfo);
    ASSERT_FALSE(conn.ok()) << conninfo;
    EXPECT_EQ(conn.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(conn.status().message(), Not(HasSubstr("s3cr")))
        << conn.status();
    EXPECT_THAT(conn.status().message(), HasSubstr("invalid conninfo"));
  }
}

TEST(ExecTest, ErrorsNameTheStatementAndCarryTheSqlState) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr conn, Connect(db->conninfo()));
  absl::StatusOr<PgResult> r = Exec(conn.get(), "SELECT * FROM no_such_table");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition,
                          HasSubstr("query \"SELECT * FROM no_such_table\"")));
  EXPECT_EQ(SqlState(r.status()), "42P01");
  absl::StatusOr<PgResult> bad = ExecSimple(conn.get(), "SELEC 1");
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("query \"SELEC 1\"")));
  EXPECT_EQ(SqlState(bad.status()), "42601");
  QG_ASSERT_OK(Prepare(conn.get(), "qg_pg_test", "SELECT 1 / $1::int"));
  EXPECT_THAT(
      ExecPrepared(conn.get(), "qg_pg_test", {"0"}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("qg_pg_test")));
}

TEST(ExecTest, TextParametersNullsAndNulBytes) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr conn, Connect(db->conninfo()));
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r,
      Exec(conn.get(), "SELECT $1::int + 1, $2::text", {"41", std::nullopt}));
  EXPECT_EQ(r.Get(0, 0), "42");
  EXPECT_TRUE(r.IsNull(0, 1));
  EXPECT_EQ(r.GetOptional(0, 1), std::nullopt);
  EXPECT_THAT(
      Exec(conn.get(), "SELECT $1::text", {std::string("a\0b", 3)}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL byte")));
}

TEST(TimestampTest, FormatsAndParsesPostgresText) {
  absl::Time t = absl::FromUnixMicros(1795932000123456);
  EXPECT_EQ(FormatTimestamp(t), "2026-11-29 06:00:00.123456+00");
  QG_ASSERT_OK_AND_ASSIGN(absl::Time back,
                          ParseTimestamp("2026-11-29 06:00:00.123456+00"));
  EXPECT_EQ(back, t);
  QG_ASSERT_OK_AND_ASSIGN(absl::Time offset,
                          ParseTimestamp("2026-11-29 11:30:00+05:30"));
  EXPECT_EQ(offset, absl::FromUnixSeconds(1795932000));
  EXPECT_EQ(FormatTimestamp(absl::InfiniteFuture()), "infinity");
  QG_ASSERT_OK_AND_ASSIGN(absl::Time past, ParseTimestamp("-infinity"));
  EXPECT_EQ(past, absl::InfinitePast());
  EXPECT_THAT(ParseTimestamp("29/11/2026"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// A UTC time from its fields (the astronomical year: 0 is 1 BC, -4713 is
// 4714 BC) and microseconds.
absl::Time Utc(int64_t year, int month, int day, int hour = 0, int minute = 0,
               int second = 0, int64_t micros = 0) {
  return absl::FromCivil(
             absl::CivilSecond(year, month, day, hour, minute, second),
             absl::UTCTimeZone()) +
         absl::Microseconds(micros);
}

// Microseconds since the Unix epoch, in decimal, beyond int64 if need be.
std::string UnixMicros(absl::Time t) {
  int64_t seconds = absl::ToUnixSeconds(t);  // rounded toward the past
  absl::int128 micros =
      absl::int128(seconds) * 1000000 +
      absl::ToInt64Microseconds(t - absl::FromUnixSeconds(seconds));
  std::ostringstream out;
  out << micros;
  return out.str();
}

// Every timestamp FormatTimestamp writes means the same instant to
// PostgreSQL, and ParseTimestamp reads PostgreSQL's text of it back exactly,
// over the whole range timestamptz holds: BC years, years before 1000 (which
// PostgreSQL would read as 19xx/20xx if unpadded), the Unix epoch's
// microsecond edges, years past 9999, and the infinities.
TEST(TimestampTest, RoundTripsThroughPostgresOverItsWholeRange) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr conn, Connect(db->conninfo()));
  struct Case {
    absl::Time t;
    const char* postgres_text;  // what PostgreSQL prints for it
  } cases[] = {
      {Utc(-4713, 11, 24), "4714-11-24 00:00:00+00 BC"},  // the earliest
      {Utc(-43, 3, 15, 12), "0044-03-15 12:00:00+00 BC"},
      {Utc(0, 12, 31, 23, 59, 59, 999999), "0001-12-31 23:59:59.999999+00 BC"},
      {Utc(1, 1, 1), "0001-01-01 00:00:00+00"},
      {Utc(1, 1, 1, 0, 0, 0, 1), "0001-01-01 00:00:00.000001+00"},
      {Utc(50, 6, 1), "0050-06-01 00:00:00+00"},
      {Utc(99, 12, 31, 23, 59, 59, 999999), "0099-12-31 23:59:59.999999+00"},
      {Utc(100, 1, 1), "0100-01-01 00:00:00+00"},
      {Utc(999, 12, 31, 23, 59, 59), "0999-12-31 23:59:59+00"},
      {Utc(1969, 12, 31, 23, 59, 59, 999999), "1969-12-31 23:59:59.999999+00"},
      {Utc(1970, 1, 1), "1970-01-01 00:00:00+00"},
      {Utc(1970, 1, 1, 0, 0, 0, 1), "1970-01-01 00:00:00.000001+00"},
      {Utc(2026, 11, 29, 6, 0, 0, 123456), "2026-11-29 06:00:00.123456+00"},
      {Utc(9998, 12, 31, 23, 59, 59, 999999), "9998-12-31 23:59:59.999999+00"},
      {Utc(9999, 1, 1), "9999-01-01 00:00:00+00"},
      {Utc(10000, 1, 1), "10000-01-01 00:00:00+00"},
      {Utc(294276, 12, 31, 23, 59, 59, 999999),  // the latest
       "294276-12-31 23:59:59.999999+00"},
      {absl::InfinitePast(), "-infinity"},
      {absl::InfiniteFuture(), "infinity"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.postgres_text);
    // PostgreSQL's own reading of the text, as text and as microseconds
    // since the Unix epoch (from days and the time of day: extract(epoch)
    // overflows into float8 near the top of the range).
    absl::StatusOr<PgResult> r =
        Exec(conn.get(),
             "SELECT t::text, CASE WHEN isfinite(t) THEN ((t::date - date "
             "'1970-01-01')::numeric * 86400 + extract(epoch FROM t::time)) * "
             "1000000 END::numeric(30) FROM (SELECT $1::timestamptz AS t) x",
             {FormatTimestamp(c.t)});
    QG_EXPECT_OK(r.status()) << FormatTimestamp(c.t);
    if (!r.ok()) continue;
    EXPECT_EQ(r->Get(0, 0), c.postgres_text) << FormatTimestamp(c.t);
    if (c.t != absl::InfinitePast() && c.t != absl::InfiniteFuture()) {
      EXPECT_EQ(r->Get(0, 1), UnixMicros(c.t));
    }
    absl::StatusOr<absl::Time> back = ParseTimestamp(c.postgres_text);
    QG_EXPECT_OK(back.status());
    if (back.ok()) {
      EXPECT_EQ(*back, c.t);
    }
  }
}

// Instants timestamptz cannot hold are refused by the server with an error
// that says so, not stored as another instant.
TEST(TimestampTest, OutsidePostgresRangeIsRefusedNotMoved) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr conn, Connect(db->conninfo()));
  for (absl::Time t :
       {Utc(-4713, 11, 23, 23, 59, 59, 999999), Utc(294277, 1, 1),
        Utc(-1000000, 1, 1), Utc(1000000, 1, 1)}) {
    EXPECT_THAT(
        Exec(conn.get(), "SELECT $1::timestamptz::text", {FormatTimestamp(t)}),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range")))
        << FormatTimestamp(t);
  }
}

TEST(TimestampTest, SubMicrosecondsAreCutTowardThePast) {
  EXPECT_EQ(FormatTimestamp(Utc(1969, 12, 31, 23, 59, 59) +
                            absl::Nanoseconds(999999999)),
            "1969-12-31 23:59:59.999999+00");
  EXPECT_EQ(FormatTimestamp(Utc(1, 1, 1) + absl::Nanoseconds(999)),
            "0001-01-01 00:00:00.000000+00");
}

TEST(TimestampTest, ParsesEveryFormPostgresPrintsAndNothingElse) {
  struct Case {
    const char* text;
    absl::Time t;
  } good[] = {
      {"2026-11-29 06:00:00+00", Utc(2026, 11, 29, 6)},
      {"2026-11-29 06:00:00.5+00", Utc(2026, 11, 29, 6, 0, 0, 500000)},
      {"2026-11-29 11:30:00+05:30", Utc(2026, 11, 29, 6)},
      {"2026-11-29 02:59:32-03:00:28", Utc(2026, 11, 29, 6)},
      {"0001-01-01 00:00:00+00 BC", Utc(0, 1, 1)},
      {"12345-06-07 08:09:10.000011+00", Utc(12345, 6, 7, 8, 9, 10, 11)},
  };
  for (const Case& c : good) {
    QG_ASSERT_OK_AND_ASSIGN(absl::Time t, ParseTimestamp(c.text));
    EXPECT_EQ(t, c.t) << c.text;
  }
  for (const char* bad :
       {"", "29/11/2026", "2026-11-29", "2026-11-29 06:00:00",
        "2026-13-01 00:00:00+00", "2026-02-30 00:00:00+00",
        "2026-11-29 24:00:00+00", "2026-11-29 06:00:00+0x",
        "2026-11-29 06:00:00.+00", "2026-11-29 06:00:00+00 AD",
        "0000-01-01 00:00:00+00", "-2026-11-29 06:00:00+00",
        "2026-11-29T06:00:00+00", "2026-11-29 06:00:00+00 "}) {
    EXPECT_THAT(ParseTimestamp(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("cannot parse timestamp")))
        << bad;
  }
}

}  // namespace
}  // namespace qg
