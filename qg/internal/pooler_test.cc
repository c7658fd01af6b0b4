#include "qg/internal/pooler.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace qg::internal {
namespace {

TEST(ServerOnThisMachineTest, SocketsAndLoopbackAreLocalOtherHostsAreNot) {
  unsetenv("PGHOST");
  unsetenv("PGHOSTADDR");
  unsetenv("PGSERVICE");
  EXPECT_TRUE(ServerOnThisMachine("dbname=app"));
  EXPECT_TRUE(ServerOnThisMachine("host=/var/run/postgresql dbname=app"));
  EXPECT_TRUE(ServerOnThisMachine("host=@qgpg-1 port=5432"));
  EXPECT_TRUE(ServerOnThisMachine("host=localhost"));
  EXPECT_TRUE(ServerOnThisMachine("postgres://u@127.0.0.1:5433/app"));
  EXPECT_TRUE(ServerOnThisMachine("postgres://u@%2Ftmp/app"));
  EXPECT_TRUE(ServerOnThisMachine("host=/tmp,localhost"));
  EXPECT_FALSE(ServerOnThisMachine("host=db.internal dbname=app"));
  EXPECT_FALSE(ServerOnThisMachine("host=/tmp,db.internal"));
  EXPECT_FALSE(ServerOnThisMachine("postgres://u@10.0.0.7/app"));
  // hostaddr decides where libpq connects: unsure, so not local.
  EXPECT_FALSE(ServerOnThisMachine("host=localhost hostaddr=10.0.0.7"));
  EXPECT_FALSE(ServerOnThisMachine("host='unterminated"));
  EXPECT_TRUE(ServerOnThisMachine("host=,/tmp"));  // "": the default socket
  // A service file or PGHOSTADDR decides where libpq goes: unsure.
  EXPECT_FALSE(ServerOnThisMachine("service=remote dbname=app"));
  setenv("PGHOSTADDR", "10.0.0.7", 1);
  EXPECT_FALSE(ServerOnThisMachine("dbname=app"));
  unsetenv("PGHOSTADDR");
  setenv("PGSERVICE", "remote", 1);
  EXPECT_FALSE(ServerOnThisMachine("dbname=app"));
  unsetenv("PGSERVICE");
  // No host in the conninfo: PGHOST decides, as it does for libpq.
  setenv("PGHOST", "db.internal", 1);
  EXPECT_FALSE(ServerOnThisMachine("dbname=app"));
  EXPECT_TRUE(ServerOnThisMachine("host=/tmp dbname=app"));
  setenv("PGHOST", "/var/run/postgresql", 1);
  EXPECT_TRUE(ServerOnThisMachine("dbname=app"));
  unsetenv("PGHOST");
}

}  // namespace
}  // namespace qg::internal
