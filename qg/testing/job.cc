#include "qg/testing/job.h"

#include <memory>

#include "absl/time/clock.h"
#include "qg/internal/lease.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"

namespace qg_testing {

std::unique_ptr<qg::Job> NewTestJob(const qg::NewJob& fields, int64_t id) {
  qg::internal::JobRow row;
  row.key.id = id;
  row.key.queue = fields.queue;
  row.key.priority = static_cast<int16_t>(fields.priority);
  row.key.run_at = fields.run_at.value_or(absl::Now());
  row.key.run_at_text = qg::FormatTimestamp(row.key.run_at);
  row.type = fields.type;
  row.args = fields.args.empty() ? "[]" : fields.args;
  return std::make_unique<qg::Job>(
      std::move(row), std::make_unique<qg::internal::NoLease>(), nullptr);
}

qg::Job* TestInjectJobConn(qg::Job* job, PGconn* conn) {
  job->UseConnection(conn);
  return job;
}

qg::Job* TestInjectJobTx(qg::Job* job, qg::Tx* tx) {
  job->UseTransaction(tx);
  return job;
}

}  // namespace qg_testing
