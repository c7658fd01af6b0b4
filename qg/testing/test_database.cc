#include "qg/testing/test_database.h"

#include <utility>

#include "glog/logging.h"
#include "gtest/gtest.h"

namespace qg_testing {

qg::EmbeddedPostgres& SharedServer() {
  static qg::EmbeddedPostgres* server = [] {
    auto s = qg::EmbeddedPostgres::Start();
    if (!s.ok()) {
      LOG(FATAL) << "cannot start the shared test PostgreSQL: " << s.status();
    }
    // Torn down at exit (a killed process: by its supervisor).
    static std::unique_ptr<qg::EmbeddedPostgres> owner = std::move(*s);
    return owner.get();
  }();
  return *server;
}

TestDatabase::TestDatabase(qg::EmbeddedPostgres* server, std::string name)
    : server_(server),
      name_(std::move(name)),
      conninfo_(server->ConninfoFor(name_)) {}

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create() {
  qg::EmbeddedPostgres& server = SharedServer();
  auto name = server.CreateDatabase();
  if (!name.ok()) return name.status();
  return std::unique_ptr<TestDatabase>(new TestDatabase(&server, *name));
}

TestDatabase::~TestDatabase() {
  if (::testing::Test::HasFailure()) {
    LOG(WARNING) << "test failed: keeping its database; connect with: psql \""
                 << conninfo_ << "\"";
    return;
  }
  if (absl::Status s = server_->DropDatabase(name_); !s.ok()) {
    LOG(WARNING) << "dropping test database " << name_ << ": " << s;
  }
}

}  // namespace qg_testing
