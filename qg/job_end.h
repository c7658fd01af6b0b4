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
