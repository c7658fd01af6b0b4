// qg/testing/job.h
// -----------------------------------------------------------------------------
//
// Test helpers for `qg::Job`, the counterparts of Go qg's `TestInjectJobConn`
// and `TestInjectJobTx`: build a job without locking one, and hand it your
// test's connection or transaction, so a `WorkFunc` can be unit-tested and its
// writes rolled back afterwards.
//
// Example:
//   auto job = qg_testing::NewTestJob({.type = "SendEmail", .args = "[1]"});
//   QG_ASSERT_OK_AND_ASSIGN(auto tx, qg::PgTx::Begin(conn));
//   qg_testing::TestInjectJobTx(job.get(), tx.get());
//   QG_EXPECT_OK(SendEmail(*job));       // writes through job->Tx()
//   tx->Rollback();
#ifndef QG_TESTING_JOB_H_
#define QG_TESTING_JOB_H_

#include <cstdint>
#include <memory>

#include "libpq-fe.h"
#include "qg/executor.h"
#include "qg/job.h"

namespace qg_testing {

// NewTestJob()
//
// A job with `fields` and `id` that is not locked and holds no connection
// (run_at defaults to now). Its verbs use an injected connection or
// transaction.
std::unique_ptr<qg::Job> NewTestJob(const qg::NewJob& fields, int64_t id = 1);

// TestInjectJobConn()
//
// Makes `conn` (owned by the caller) the job's connection: `Conn()` returns
// it and the verbs run on it. Returns `job`.
qg::Job* TestInjectJobConn(qg::Job* job, PGconn* conn);

// TestInjectJobTx()
//
// Makes `tx` (owned by the caller) the job's transaction: `Tx()` returns it
// and `Delete()`/`Error()` run inside it without committing it. Returns `job`.
qg::Job* TestInjectJobTx(qg::Job* job, qg::Tx* tx);

}  // namespace qg_testing

#endif  // QG_TESTING_JOB_H_
