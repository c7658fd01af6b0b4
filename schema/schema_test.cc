#include "schema/schema.h"

#include <string>

#include "gtest/gtest.h"

namespace {

// Whether `sql` holds `text` at `at`.
bool At(const std::string& sql, size_t at, const std::string& text) {
  return sql.compare(at, text.size(), text) == 0;
}

TEST(SchemaTest, EmbedsQueJobsDdlWithVersionComment) {
  std::string sql = qg::schema::kQueJobsSql;
  EXPECT_NE(sql.find("CREATE TABLE IF NOT EXISTS que_jobs"), std::string::npos);
  EXPECT_NE(sql.find("COMMENT ON TABLE que_jobs IS '3'"), std::string::npos);
}

TEST(SchemaTest, EmbedsAdditiveLockFunctionAndNotifyTrigger) {
  std::string sql = qg::schema::kQgAdditionsSql;
  EXPECT_NE(sql.find("FUNCTION qg_lock_job"), std::string::npos);
  EXPECT_NE(sql.find("FOR EACH STATEMENT"), std::string::npos);
}

// Que 0.x compatibility: the additions only add. The ALTER TABLEs of
// que_jobs add nullable columns (one with a default of now() for the rows
// inserted after it; the rows that exist keep NULL); the others add columns
// to qg-cpp's own qg_cancellations and qg_queues; nothing drops, renames,
// retypes or re-comments what Que defined, or sets a default on a column
// of Que's.
TEST(SchemaTest, AdditionsOnlyAdd) {
  const std::string kEnqueuedAt =
      "ALTER TABLE que_jobs ADD COLUMN qg_enqueued_at timestamptz, "
      "ALTER COLUMN qg_enqueued_at SET DEFAULT now();";
  std::string sql = qg::schema::kQgAdditionsSql;
  size_t at = 0;
  int alters = 0;
  while ((at = sql.find("ALTER TABLE", at)) != std::string::npos) {
    if (sql.compare(at, 39, "ALTER TABLE qg_cancellations ADD COLUMN") == 0 ||
        At(sql, at, "ALTER TABLE qg_queues ADD COLUMN history boolean;") ||
        At(sql, at, "ALTER TABLE qg_job_history ADD COLUMN batch_id bigint;")) {
      at += 11;
      continue;
    }
    // Two nullable columns without defaults: the unique key, and the
    // explicit key of flow-control limits.
    EXPECT_TRUE(
        sql.compare(at, 51,
                    "ALTER TABLE que_jobs ADD COLUMN qg_unique_key text;") ==
            0 ||
        sql.compare(at, 50,
                    "ALTER TABLE que_jobs ADD COLUMN qg_limit_key text;") ==
            0 ||
        At(sql, at,
           "ALTER TABLE que_jobs ADD COLUMN qg_first_started_at "
           "timestamptz;") ||
        At(sql, at, kEnqueuedAt) ||
        At(sql, at,
           "ALTER TABLE que_jobs ADD COLUMN qg_has_children boolean;") ||
        At(sql, at,
           "ALTER TABLE que_jobs ADD COLUMN qg_parents_left integer;") ||
        At(sql, at, "ALTER TABLE que_jobs ADD COLUMN qg_batch_id bigint;"))
        << sql.substr(at, 80);
    ++alters;
    at += 11;
  }
  EXPECT_EQ(alters, 7);
  // The one ALTER COLUMN / SET DEFAULT: the new column's, in its ADD.
  std::string rest = sql;
  size_t enq = rest.find(kEnqueuedAt);
  ASSERT_NE(enq, std::string::npos);
  rest.erase(enq, kEnqueuedAt.size());
  for (const char* forbidden :
       {"DROP COLUMN", "ALTER COLUMN", "RENAME", "COMMENT ON TABLE que_jobs",
        "DROP TABLE", "DROP INDEX", "que_jobs_pkey", "SET DEFAULT",
        "SET NOT NULL"}) {
    EXPECT_EQ(rest.find(forbidden), std::string::npos) << forbidden;
  }
  EXPECT_NE(sql.find("CREATE TABLE IF NOT EXISTS qg_periodic"),
            std::string::npos);
}

}  // namespace
