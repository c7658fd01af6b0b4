// qg/job_end.h
// -----------------------------------------------------------------------------
//
// `JobEnd`: how a worked job ended, as its verbs left it (`Job::end()`), for
// metrics, observers and throughput counts.
#ifndef QG_JOB_END_H_
#define QG_JOB_END_H_

#include <cstdint>

namespace qg {

enum class JobEnd {
  kNone,       // not finished (yet)
  kCompleted,  // deleted (or the client's DeleteFunc ran)
  kRetried,    // a failure was recorded; it runs again after its backoff
  kDead,       // a failure was recorded and it is out of attempts
  kSnoozed,    // rescheduled without counting a failure (`Job::Snooze`)
  kCancelled,  // kept as cancelled by an operator (`Client::CancelJob`)
  kReleased,   // left as it was (shutdown, a lost lock): it runs again
};

// "completed", "retried", "dead", "snoozed", "cancelled", "released", "none".
const char* JobEndName(JobEnd end);

// JobEndCounts
//
// How many jobs ended each way: the counts the throughput history
// (qg_job_counts) and the Prometheus metrics keep. `kNone` counts as
// released: a job that never finished is left as it was.
struct JobEndCounts {
  uint64_t completed = 0;
  uint64_t retried = 0;
  uint64_t dead = 0;
  uint64_t snoozed = 0;
  uint64_t cancelled = 0;
  uint64_t released = 0;

  // Counts `n` jobs that ended as `end`.
  void Add(JobEnd end, uint64_t n = 1);
  // Adds every count of `other`.
  JobEndCounts& operator+=(const JobEndCounts& other);
};

// The prefix of last_error of a job an operator cancelled
// (`Client::CancelJob`): kept like a dead job (run_at 9999-01-01, listed by
// `qg jobs --dead`, revived by `qg retry`), its error_count unchanged.
inline constexpr char kCancelledMarker[] = "qg: cancelled";

// What `Client::CancelJob` did.
enum class CancelOutcome {
  kCancelled,  // nobody held the job: it is kept as cancelled now
  kStopping,   // a qg-cpp pool runs it and was asked to stop it: it is
               // recorded as cancelled when its handler returns an error
               // (a handler that completes anyway completes the job)
};

}  // namespace qg

#endif  // QG_JOB_END_H_
