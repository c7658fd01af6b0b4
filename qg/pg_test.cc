// The public libpq helpers (qg/pg.h) against a real PostgreSQL: the session
// settings Connect forces, errors that name the statement and carry their
// SQLSTATE, parameters, and timestamps both ways.
#include "qg/pg.h"

#include <string>

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

}  // namespace
}  // namespace qg
