// qg/batch.h
// -----------------------------------------------------------------------------
//
// Batches: jobs grouped so that callback jobs run once all of them are done.
// A batch is created open (`Client::CreateBatch`), takes jobs from any
// enqueue call (`NewJob::batch_id`: `Enqueue`, `EnqueueInTx`, `EnqueueMany`,
// `EnqueueStream`, a `Workflow`), in one transaction or several, until it is
// sealed (`Client::SealBatch`). Once sealed with every job settled
// (completed, dead or cancelled), the transaction that settled the last job
// (or sealed it) enqueues its callbacks: `on_success` when every job
// completed, `on_finish` in any case. The batch row's lock makes that one
// transaction, whichever workers finish the last jobs and whatever dies
// meanwhile, so each callback is enqueued exactly once.
//
// Example:
//   QG_ASSIGN_OR_RETURN(int64_t batch, client->CreateBatch({
//       .description = "import 2026-12",
//       .on_success = qg::NewJob{.type = "ImportDone"}}));
//   std::vector<qg::NewJob> rows = ...;  // each with .batch_id = batch
//   QG_RETURN_IF_ERROR(client->EnqueueMany(rows).status());
//   QG_RETURN_IF_ERROR(client->SealBatch(batch));
#ifndef QG_BATCH_H_
#define QG_BATCH_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qg/job.h"
#include "qg/pg.h"

namespace qg {

// BatchOptions
//
// What `Client::CreateBatch()` makes a batch with.
struct BatchOptions {
  // Free text for people (`qg batches`, the console). Default: empty.
  std::string description;
  // The job enqueued when the batch finishes with every job completed
  // (none dead or cancelled). Its `type`, `args`, `queue` and `priority` are
  // used (validated as by `Enqueue()`); its args get the batch's id: appended
  // when they are a JSON array (the default "[]" becomes "[ID]"), as
  // "batch_id" when an object, not at all otherwise. Default: none.
  std::optional<NewJob> on_success;
  // The job enqueued when the batch finishes, however its jobs ended; args
  // as for `on_success`. Default: none.
  std::optional<NewJob> on_finish;
};

// BatchInfo
//
// A batch's progress, as `Client::GetBatch()` and `Admin::ListBatches()` read
// it. The counts are of jobs added (`total`) and settled; jobs neither
// completed, dead nor cancelled are waiting or running.
struct BatchInfo {
  int64_t id = 0;
  std::string description;
  absl::Time created_at;
  std::optional<absl::Time> sealed_at;    // nullopt: still takes jobs
  std::optional<absl::Time> finished_at;  // nullopt: not finished
  int64_t total = 0;
  int64_t completed = 0;
  int64_t dead = 0;
  int64_t cancelled = 0;
  // The callback jobs enqueued when it finished (nullopt: none).
  std::optional<int64_t> success_job_id;
  std::optional<int64_t> finish_job_id;

  // Jobs not settled yet: waiting or running.
  int64_t waiting() const { return total - completed - dead - cancelled; }
};

namespace internal {

// Reads row `i` of a qg_batch_get / qg_batch_list result.
absl::StatusOr<BatchInfo> ReadBatchRow(const PgResult& r, int i);

// Batch `id`'s progress, read on `conn` (`Client::GetBatch`,
// `Admin::GetBatch`): `NotFound` when there is none, `FailedPrecondition`
// without `qg migrate`'s batches.
absl::StatusOr<BatchInfo> GetBatch(PGconn* conn, int64_t id);

}  // namespace internal
}  // namespace qg

#endif  // QG_BATCH_H_
