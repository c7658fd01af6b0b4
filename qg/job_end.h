// qg/job_end.h
// -----------------------------------------------------------------------------
//
// `JobEnd`: how a worked job ended, as its verbs left it (`Job::end()`), for
// metrics, observers and throughput counts.
#ifndef QG_JOB_END_H_
#define QG_JOB_END_H_

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

}  // namespace qg

#endif  // QG_JOB_END_H_
