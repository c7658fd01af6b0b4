// Measures the embedded PostgreSQL: a cold start (initdb + schema),
// a start from the cached template, and a fresh database on a running server.
//
//   bazel run -c opt //qg/embedded:embedded_postgres_benchmark
//
// Each case runs one start per repetition; the `_median` rows are the p50.
#include "benchmark/benchmark.h"
#include "glog/logging.h"
#include "qg/embedded/embedded_postgres.h"
#include "qg/testing/test_database.h"

namespace qg {
namespace {

void StartServer(benchmark::State& state, bool use_template) {
  EmbeddedPostgresOptions options;
  options.use_template_cache = use_template;
  if (use_template) {
    // Make sure the template exists before timing.
    auto warm = EmbeddedPostgres::Start(options);
    CHECK(warm.ok()) << warm.status();
  }
  for (auto _ : state) {
    auto server = EmbeddedPostgres::Start(options);
    CHECK(server.status().ok()) << server.status();
    benchmark::DoNotOptimize(server);
    state.PauseTiming();
    server->reset();  // teardown is not part of the start time
    state.ResumeTiming();
  }
}

void BM_ColdInitdbStart(benchmark::State& state) { StartServer(state, false); }
void BM_TemplateCopyStart(benchmark::State& state) { StartServer(state, true); }

void BM_FreshDatabase(benchmark::State& state) {
  EmbeddedPostgres& server = qg_testing::SharedServer();
  for (auto _ : state) {
    auto name = server.CreateDatabase();
    CHECK(name.status().ok()) << name.status();
    state.PauseTiming();
    absl::Status dropped = server.DropDatabase(*name);
    CHECK(dropped.ok()) << dropped;
    state.ResumeTiming();
  }
}

BENCHMARK(BM_ColdInitdbStart)
    ->Iterations(1)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TemplateCopyStart)
    ->Iterations(1)
    ->Repetitions(15)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FreshDatabase)
    ->Iterations(1)
    ->Repetitions(25)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace qg

BENCHMARK_MAIN();
