#include "qg/testing/job.h"

#include "absl/time/clock.h"
#include "qg/internal/pg.h"

namespace qg_testing {

std::unique_ptr<qg::Job> JobPeer::Make(const qg::NewJob& fields, int64_t id) {
  auto job = std::unique_ptr<qg::Job>(new qg::Job);
  job->id_ = id;
  job->queue_ = fields.queue;
  job->priority_ = static_cast<int16_t>(fields.priority);
  job->run_at_ = fields.run_at.value_or(absl::Now());
  job->run_at_text_ = qg::internal::FormatTimestamp(job->run_at_);
  job->type_ = fields.type;
  job->args_ = fields.args.empty() ? "[]" : fields.args;
  return job;
}

void JobPeer::InjectConn(qg::Job& job, PGconn* conn) {
  std::unique_lock<std::mutex> lock(job.mu_);
  job.conn_ = conn;
}

void JobPeer::InjectTx(qg::Job& job, qg::Tx* tx) { job.injected_tx_ = tx; }

std::unique_ptr<qg::Job> NewTestJob(const qg::NewJob& fields, int64_t id) {
  return JobPeer::Make(fields, id);
}

qg::Job* TestInjectJobConn(qg::Job* job, PGconn* conn) {
  JobPeer::InjectConn(*job, conn);
  return job;
}

qg::Job* TestInjectJobTx(qg::Job* job, qg::Tx* tx) {
  JobPeer::InjectTx(*job, tx);
  return job;
}

}  // namespace qg_testing
