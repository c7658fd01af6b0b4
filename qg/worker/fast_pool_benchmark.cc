// Micro-benchmarks of the fast path's hot pieces, on a throwaway PostgreSQL:
// locking a batch (flat candidate query and the walking CTE), completing a
// batch (pipelined DELETE + unlock), and typed-args encode/decode.
//
//   bazel run -c opt //qg/worker:fast_pool_benchmark
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "benchmark/benchmark.h"
#include "glog/logging.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/internal/pipeline.h"
#include "qg/internal/queries.h"
#include "qg/internal/sql.h"
#include "qg/pg.h"
#include "qg/testing/example_job.pb.h"
#include "qg/typed.h"
#include "qg/worker/work_map.h"

namespace qg {
namespace {

qg::EmbeddedPostgres& Server() {
  static qg::EmbeddedPostgres* server = [] {
    auto s = qg::EmbeddedPostgres::Start();
    CHECK(s.ok()) << s.status();
    return s->release();
  }();
  return *server;
}

// A connection set up like the pool's locker session (see fast_pool.cc).
PgConnPtr Conn() {
  auto c = qg::Connect(Server().conninfo());
  CHECK(c.ok()) << c.status();
  CHECK(qg::ExecSimple(c->get(),
                       "SET enable_seqscan = off; SET enable_bitmapscan "
                       "= off; SET enable_sort = off")
            .ok());
  return std::move(*c);
}

void Exec(PGconn* conn, const std::string& sql) {
  auto r = qg::ExecSimple(conn, sql);
  CHECK(r.ok()) << sql << ": " << r.status();
}

void Refill(PGconn* conn, int n) {
  Exec(conn, "TRUNCATE que_jobs");
  Exec(conn, absl::StrCat("INSERT INTO que_jobs (job_class, args) SELECT "
                          "'Bench', format('[%s]', i)::json FROM "
                          "generate_series(1, ",
                          n, ") i"));
}

// Locks a batch of n from the head of a queue of 10,000 ready jobs.
void BM_LockBatch(benchmark::State& state) {
  PgConnPtr conn = Conn();
  Refill(conn.get(), 10000);
  int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto r = internal::Run(
        conn.get(),
        internal::queries::LockJobs("", n, {}, 4 * n + 100, std::nullopt));
    CHECK(r.ok()) << r.status();
    state.PauseTiming();
    Exec(conn.get(), "SELECT pg_advisory_unlock_all()");
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

BENCHMARK(BM_LockBatch)->Arg(1)->Arg(8)->Arg(64)->Arg(256)->UseRealTime();

void BM_CompleteBatch(benchmark::State& state) {
  PgConnPtr conn = Conn();
  CHECK(internal::sql::PrepareAll(conn.get(), internal::sql::LockerStatements())
            .ok());
  int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    Refill(conn.get(), n);
    auto locked = internal::Run(
        conn.get(),
        internal::queries::LockJobs("", n, {}, 4 * n + 100, std::nullopt));
    CHECK(locked.ok()) << locked.status();
    auto reader = internal::JobRowReader::For(*locked);
    CHECK(reader.ok());
    std::vector<internal::JobKey> keys;
    std::vector<int64_t> ids;
    for (int i = 0; i + 1 < locked->rows(); ++i) {  // the last: summary
      auto row = reader->Read(*locked, i);
      CHECK(row.ok());
      keys.push_back(row->key);
      ids.push_back(row->key.id);
    }
    state.ResumeTiming();
    // What the locker sends for finished jobs: DELETE (commit), then unlock
    // (in the next round trip; measured here back to back).
    auto pipeline = internal::Pipeline::Begin(conn.get());
    CHECK(pipeline.ok());
    CHECK(pipeline->Send(internal::queries::DeleteBatch(keys)).ok());
    CHECK(pipeline->Send(internal::queries::UnlockBatch(ids)).ok());
    CHECK(pipeline->Flush(absl::InfiniteFuture()).ok());
    CHECK(pipeline->Next(absl::InfiniteFuture()).ok());
    CHECK(pipeline->Next(absl::InfiniteFuture()).ok());
    CHECK(pipeline->Finish());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_CompleteBatch)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();

qg_testing::example::SendEmail Email() {
  qg_testing::example::SendEmail email;
  email.set_to("ada@example.com");
  email.set_subject("Welcome to qg-cpp");
  email.set_attempt(2);
  email.mutable_send_after()->set_seconds(1800000000);
  email.add_tags("welcome");
  email.add_tags("onboarding");
  return email;
}

void BM_TypedArgsEncode(benchmark::State& state) {
  auto email = Email();
  for (auto _ : state) {
    auto args = MessageToArgs(email);
    benchmark::DoNotOptimize(args);
  }
}
BENCHMARK(BM_TypedArgsEncode);

void BM_TypedArgsDecode(benchmark::State& state) {
  auto args = MessageToArgs(Email());
  CHECK(args.ok());
  for (auto _ : state) {
    qg_testing::example::SendEmail email;
    CHECK(ParseTypedArgs(*args, email).ok());
    benchmark::DoNotOptimize(email);
  }
}
BENCHMARK(BM_TypedArgsDecode);

}  // namespace
}  // namespace qg

BENCHMARK_MAIN();
