#include "schema/schema.h"

#include <string>

#include "gtest/gtest.h"

namespace {

TEST(SchemaTest, EmbedsQueJobsDdlWithVersionComment) {
  std::string sql = qg::schema::kQueJobsSql;
  EXPECT_NE(sql.find("CREATE TABLE IF NOT EXISTS que_jobs"), std::string::npos);
  EXPECT_NE(sql.find("COMMENT ON TABLE que_jobs IS '3'"), std::string::npos);
}

TEST(SchemaTest, EmbedsAdditiveLockFunctionAndNotifyTrigger) {
  std::string sql = qg::schema::kQgAdditionsSql;
  EXPECT_NE(sql.find("FUNCTION qg_lock_job"), std::string::npos);
  EXPECT_NE(sql.find("FOR EACH STATEMENT"), std::string::npos);
  EXPECT_EQ(sql.find("ALTER TABLE"), std::string::npos);
}

}  // namespace
