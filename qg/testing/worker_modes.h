// qg/testing/worker_modes.h
// -----------------------------------------------------------------------------
//
// Running one test in both worker modes (the fast, batched path and the
// qg-compatible one): the parameter values and their names in test names
// ("Fast", "QgCompat").
//
// Example:
//   class MyTest : public qg_testing::DatabaseTest,
//                  public ::testing::WithParamInterface<qg::WorkerMode> {};
//   INSTANTIATE_TEST_SUITE_P(Modes, MyTest, qg_testing::BothWorkerModes(),
//                            qg_testing::WorkerModeTestName);
#ifndef QG_TESTING_WORKER_MODES_H_
#define QG_TESTING_WORKER_MODES_H_

#include <string>

#include "gtest/gtest.h"
#include "qg/worker/worker.h"

namespace qg_testing {

// Both modes, fast first, for `INSTANTIATE_TEST_SUITE_P`.
inline auto BothWorkerModes() {
  return ::testing::Values(qg::WorkerMode::kFast, qg::WorkerMode::kQgCompat);
}

// "Fast" or "QgCompat".
inline std::string WorkerModeName(qg::WorkerMode mode) {
  return mode == qg::WorkerMode::kFast ? "Fast" : "QgCompat";
}

// The test-name generator of `INSTANTIATE_TEST_SUITE_P`: the mode's name.
inline std::string WorkerModeTestName(
    const ::testing::TestParamInfo<qg::WorkerMode>& info) {
  return WorkerModeName(info.param);
}

}  // namespace qg_testing

#endif  // QG_TESTING_WORKER_MODES_H_
