// qg/limits.h
// -----------------------------------------------------------------------------
//
// Flow control: concurrency and rate limits that every qg-cpp worker pool
// on the database honours, stored in the `qg_limits` table (`qg migrate`)
// so that all processes share one definition and an operator can change it
// while they run (`qg limits`, the console, `Admin`).
//
// A limit applies to the jobs of a queue (or of every queue) and of a type
// (or of every type), per bucket: all of them together, or one bucket per
// key, where the key is the job's explicit limit key or the values of some
// of its args fields. Examples:
//
//   qg::Limit payments{.name = "payments", .queue = "payments",
//                      .concurrency = 5};              // 5 at once, anywhere
//   qg::Limit tenants{.name = "imports", .type = "TenantImport",
//                     .key_by = qg::Limit::KeyBy::kArgs,
//                     .key_args = {"tenant_id"}, .concurrency = 1};
//   qg::Limit render{.name = "render", .type = "Render", .concurrency = 2,
//                    .per_pool = true};                 // 2 per worker pool
//   qg::Limit mail{.name = "mail", .type = "SendEmail",
//                  .key_by = qg::Limit::KeyBy::kArgs, .key_args = {"domain"},
//                  .rate = 100, .rate_period = absl::Minutes(1)};
//
// Semantics (README, "Flow control", says the same with figures):
//   - Concurrency is strict: a job holds one of its bucket's N slot locks
//     (PostgreSQL session advisory locks) from the moment a pool admits it
//     until its handler is done, so no more than N of a bucket's handlers
//     ever run at once, across any number of processes; a killed worker's
//     slots are free when its database session ends (no lease, no
//     timeout). Jobs a fast pool locked ahead with a slot count. Under a
//     queue's one all-jobs limit a fast pool may also lock jobs without a
//     slot and hand a finished job's slot straight to one of them (the
//     slot never leaves the session).
//   - Rate: GCRA on the database's clock: one start per period/rate on a
//     schedule, up to `rate_burst` at once; a start less than one interval
//     late keeps the schedule (the round trips' lag does not slow the
//     rate), so any window of length `rate_period` holds at most rate +
//     rate_burst starts (a "start" is the moment a pool admits the job, a
//     round trip before its handler runs).
//   - A job a limit holds back is not failed and counts no error: it waits,
//     and jobs of other buckets behind it run.
//   - Ruby Que, que-go and qg workers know nothing of limits.
#ifndef QG_LIMITS_H_
#define QG_LIMITS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/executor.h"

namespace qg {

// Limit
//
// One flow-control limit. Set at least one of `concurrency` and `rate`.
struct Limit {
  // Its name: 1 to 200 bytes of UTF-8 without control characters.
  std::string name;

  // The queue it applies to; nullopt: every queue.
  std::optional<std::string> queue;

  // The job type it applies to; nullopt: every type.
  std::optional<std::string> type;

  // How jobs are grouped into buckets, each limited on its own.
  enum class KeyBy {
    kNone,  // one bucket for every job the limit applies to
    kJob,   // the job's explicit limit key (que_jobs.qg_limit_key); a job
            // without one is not limited
    kArgs,  // the values of `key_args`: top-level members of an object
            // args, or of the first element of an array args (Que's form)
  };
  KeyBy key_by = KeyBy::kNone;
  std::vector<std::string> key_args;

  // At most this many jobs of a bucket held at once (0 to 1000; 0 holds
  // every job back). nullopt: no concurrency limit.
  std::optional<int> concurrency;

  // Whether `concurrency` counts per worker pool instead of across every
  // pool (in qg-compatible mode: per `Client`). Default: false.
  bool per_pool = false;

  // At most `rate` starts per `rate_period` per bucket, across every pool.
  // nullopt: no rate limit.
  std::optional<int> rate;
  absl::Duration rate_period = absl::Seconds(1);

  // Starts allowed at once (1 to 1000000); 1 spaces them evenly. Default: 1.
  int rate_burst = 1;
};

// LimitInfo
//
// A stored limit and its use when it was read.
struct LimitInfo {
  Limit limit;
  // The highest concurrency the limit had while jobs may still hold its
  // slots: after a lowering, new starts wait until those above are free.
  int slots_high = 0;
  absl::Time updated_at;
  // Held jobs it applies to: running, or locked ahead by a pool (with a
  // slot, or waiting for a hand-off of one: under a queue-wide limit this
  // can exceed the limit while no more than the limit run).
  int64_t running = 0;
  int64_t busiest = 0;          // the most held in one bucket
  int64_t buckets = 0;          // buckets with a held job
  int64_t waiting = 0;          // runnable jobs it applies to that nobody holds
  bool waiting_capped = false;  // `waiting` stopped at the scan's cap
};

// ValidateLimit()
//
// `InvalidArgument` naming the field when `limit` cannot be stored.
absl::Status ValidateLimit(const Limit& limit);

// SetLimit()
//
// Creates or replaces `limit` (by name); pools apply it from their next
// lock scan. Lowering a concurrency never lets a bucket exceed the new
// value: new starts wait until the jobs started under the higher one are
// down to it. Waits until no pool hands slots on under the old limits
// (pools let go within about a round trip, at most ~100 ms apart).
// `FailedPrecondition` without `qg migrate`.
absl::Status SetLimit(Executor& exec, const Limit& limit);

// EnsureLimit()
//
// Creates `limit` unless one of its name exists (the stored one wins, so
// an operator's change outlives the code's default). Returns whether it
// created it.
absl::StatusOr<bool> EnsureLimit(Executor& exec, const Limit& limit);

// RemoveLimit()
//
// Removes the limit named `name`; false when there was none.
absl::StatusOr<bool> RemoveLimit(Executor& exec, absl::string_view name);

// ListLimits()
//
// Every stored limit, by name, with its use. `waiting` counts at most
// `max_scan` jobs per limit. Empty without `qg migrate`.
absl::StatusOr<std::vector<LimitInfo>> ListLimits(Executor& exec,
                                                  int max_scan = 100000);

// KeyByName(), ParseKeyBy()
//
// "none", "job", "args" and back.
absl::string_view KeyByName(Limit::KeyBy key_by);
std::optional<Limit::KeyBy> ParseKeyBy(absl::string_view name);

}  // namespace qg

#endif  // QG_LIMITS_H_
