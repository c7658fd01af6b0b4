// qg/admin_json.h
// -----------------------------------------------------------------------------
//
// The JSON shapes of the admin API's results, written once and shared by
// `qg stats --json`, `qg jobs --json` and the web console's JSON API
// (/api/v1/...), so a script written against one reads the other.
//
// Example:
//   QG_ASSIGN_OR_RETURN(qg::StatsReport report, admin->Stats());
//   std::vector<qg::JsonObject> items;
//   for (const qg::JobStats& s : report.groups) {
//     items.push_back(qg::StatsJson(s, report.paused(s.queue)));
//   }
//   qg::JsonArray(items);
//   // [{"queue":"","type":"SendEmail","count":3,"working":0,"errored":1,
//   //   "highest_error_count":2,"dead":0,
//   //   "oldest_run_at":"2026-11-29T06:00:00.000000Z","paused":false}]
#ifndef QG_ADMIN_JSON_H_
#define QG_ADMIN_JSON_H_

#include <string>

#include "absl/time/time.h"
#include "qg/admin.h"
#include "qg/batch.h"
#include "qg/history.h"
#include "qg/json_writer.h"
#include "qg/limits.h"
#include "qg/stats.h"
#include "qg/workflow.h"

namespace qg {

// StatsJson()
//
// One (queue, type) group, as `qg stats --json` prints each: queue, type,
// count, working, errored, highest_error_count, dead, oldest_run_at, paused
// (its queue is paused: `StatsReport::paused()`).
JsonObject StatsJson(const JobStats& stats, bool paused);

// JobStateName()
//
// A job's state in one word, as of `now`: "working" (a worker holds its
// lock), "cancelled" (by an operator), "dead" (out of attempts), "errored"
// (failed, waiting for its retry or due for it), "scheduled" (due later) or
// "ready".
std::string JobStateName(const JobRecord& job, absl::Time now);

// JobListJson()
//
// A job in a listing, as `qg jobs --json` prints each: id, queue, type,
// priority, run_at, error_count, last_error (its first line, or null),
// working, state (`JobStateName()` as of `now`), cursor
// (`JobCursor::Encode()` of the row: page after it).
JsonObject JobListJson(const JobRecord& job, absl::Time now);

// JobDetailJson()
//
// One job, as `qg jobs ID --json` prints it (from `Admin::GetJob()`): id,
// queue, type, priority, run_at, error_count, last_error (up to
// `kShownChars` characters, or null), working, state (as of `now`),
// held_by_pid (0: nobody), args (the stored JSON, as it is; null when it
// was cut), last_error_truncated, last_error_bytes, args_truncated,
// args_bytes, and when the args were cut, args_preview: their first
// `kShownChars` characters as a string.
JsonObject JobDetailJson(const JobRecord& job, absl::Time now);

// FinishedJobJson()
//
// A job's history record (qg/history.h): id, queue, type, priority,
// outcome, attempts, enqueued_at, first_started_at, started_at,
// finished_at (times as `FormatUtc()`, null when unset), run_time_s,
// last_error (null: none), output_bytes; and, when `full`, args, output
// (null: none; raw JSON unless cut, then a string) and their sizes.
JsonObject FinishedJobJson(const FinishedJob& job, bool full = true);

// BatchJson()
//
// A batch's progress (qg/batch.h): id, description, created_at, sealed_at,
// finished_at (null: not yet), total, completed, dead, cancelled, waiting,
// success_job_id and finish_job_id (null: none).
JsonObject BatchJson(const BatchInfo& batch);

// WorkflowJson()
//
// A workflow graph (qg/workflow.h): nodes (id, type, queue, state), edges
// (parent, child, state: "waiting", "completed" or "failed") and truncated.
JsonObject WorkflowJson(const WorkflowGraph& graph);

// BulkResultJson()
//
// What `Admin::RetryJobs()` / `DeleteJobs()` did: changed, skipped_held,
// skipped_moved, skipped_cancelled.
JsonObject BulkResultJson(const BulkResult& result);

// LimitJson()
//
// A flow-control limit and its use, as `qg limits --json` prints each and
// the console's /api/v1/limits lists them: name, queue and type (null:
// every), key_by, key_args, concurrency (or null), per_pool, rate and
// rate_period_seconds (or null), rate_burst, slots_high, updated_at,
// running, busiest_bucket, buckets_running, waiting, waiting_capped.
JsonObject LimitJson(const LimitInfo& info);

}  // namespace qg

#endif  // QG_ADMIN_JSON_H_
