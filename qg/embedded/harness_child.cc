// A helper for embedded_postgres_test: gtest cases that start a throwaway
// server, say where it lives on stdout, then pass, fail or hang until killed.
// Disabled by default; embedded_postgres_test runs one at a time.
#include <unistd.h>

#include <cstdio>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/testing/status_matchers.h"
#include "qg/testing/test_database.h"

namespace qg_testing {
namespace {

void Announce(const qg::EmbeddedPostgres& server, const std::string& conninfo) {
  printf("base=%s\npostmaster=%d\nconninfo=%s\nready\n",
         server.base_dir().c_str(), server.postmaster_pid(), conninfo.c_str());
  fflush(stdout);
}

TEST(ChildTest, DISABLED_Passes) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  Announce(db->server(), db->conninfo());
}

TEST(ChildTest, DISABLED_Fails) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  Announce(db->server(), db->conninfo());
  ADD_FAILURE() << "this test fails on purpose";
}

TEST(ChildTest, DISABLED_Hangs) {
  QG_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  Announce(db->server(), db->conninfo());
  while (true) absl::SleepFor(absl::Seconds(1));
}

}  // namespace
}  // namespace qg_testing
