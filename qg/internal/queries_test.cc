#include "qg/internal/queries.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/internal/pg.h"
#include "qg/internal/sql.h"
#include "qg/testing/query.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"

namespace qg::internal {
namespace {

using ::qg_testing::StatusIs;
using ::testing::HasSubstr;

// The columns of que_jobs a JobRowReader reads, in the table's order.
const std::vector<std::string> kColumns = {"queue",       "priority",  "run_at",
                                           "job_id",      "job_class", "args",
                                           "error_count", "last_error"};

TEST(SqlTest, EveryStatementPreparesOnAMigratedDatabase) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, qg_testing::TestDatabase::Create());
  QG_ASSERT_OK_AND_ASSIGN(PgConnPtr conn, Connect(db->conninfo()));
  QG_EXPECT_OK(sql::PrepareAll(conn.get(), sql::ClientStatements()));
  QG_EXPECT_OK(sql::PrepareAll(conn.get(), sql::LockerStatements()));
}

TEST(SqlTest, DeadRunAtIsDefinedOnceAndSubstitutedIntoTheText) {
  EXPECT_STREQ(sql::kDeadRunAt, "9999-01-01 00:00:00+00");
  EXPECT_THAT(sql::kErrorBatch.text, HasSubstr(sql::kDeadRunAt));
  EXPECT_THAT(sql::kErrorBatch.text, ::testing::Not(HasSubstr("@DEAD")));
}

TEST(JobRowReaderTest, ReadsByColumnNameInAnyOrder) {
  std::vector<std::string> columns = {"args",   "job_id",      "queue",
                                      "run_at", "error_count", "priority",
                                      "extra",  "job_class",   "last_error"};
  QG_ASSERT_OK_AND_ASSIGN(JobRowReader reader, JobRowReader::For(columns));
  std::vector<std::optional<absl::string_view>> fields = {
      "[1]", "42",   "mail",      "2026-11-29 06:00:00.5+00", "3", "-7",
      "x",   "Send", std::nullopt};
  QG_ASSERT_OK_AND_ASSIGN(JobRow row,
                          reader.Read([&](int c) { return fields[c]; }));
  EXPECT_EQ(row.key.id, 42);
  EXPECT_EQ(row.key.queue, "mail");
  EXPECT_EQ(row.key.priority, -7);
  EXPECT_EQ(row.key.run_at_text, "2026-11-29 06:00:00.5+00");
  EXPECT_EQ(row.key.run_at,
            absl::FromUnixMillis(1795932000500));  // 2026-11-29T06:00:00.5Z
  EXPECT_EQ(row.type, "Send");
  EXPECT_EQ(row.args, "[1]");
  EXPECT_EQ(row.error_count, 3);
  EXPECT_FALSE(row.last_error.has_value());
}

TEST(JobRowReaderTest, MissingColumnOrUnparsableFieldIsNamed) {
  EXPECT_THAT(JobRowReader::For(std::vector<std::string>{"queue"}).status(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("priority")));
  QG_ASSERT_OK_AND_ASSIGN(JobRowReader reader, JobRowReader::For(kColumns));
  std::vector<std::optional<absl::string_view>> fields = {
      "", "100", "29/11/2026 06:00:00 UTC", "1", "T", "[]", "0", std::nullopt};
  EXPECT_THAT(reader.Read([&](int c) { return fields[c]; }).status(),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("que_jobs.run_at = \"29/11/2026")));
}

TEST(JobRowReaderTest, InfiniteRunAtParses) {
  QG_ASSERT_OK_AND_ASSIGN(JobRowReader reader, JobRowReader::For(kColumns));
  std::vector<std::optional<absl::string_view>> fields = {
      "", "100", "-infinity", "1", "T", "[]", "0", std::nullopt};
  QG_ASSERT_OK_AND_ASSIGN(JobRow row,
                          reader.Read([&](int c) { return fields[c]; }));
  EXPECT_EQ(row.key.run_at, absl::InfinitePast());
  EXPECT_EQ(FormatTimestamp(row.key.run_at), "-infinity");
}

}  // namespace
}  // namespace qg::internal
