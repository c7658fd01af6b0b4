#include "qg/job_end.h"

namespace qg {

const char* JobEndName(JobEnd end) {
  switch (end) {
    case JobEnd::kCompleted:
      return "completed";
    case JobEnd::kRetried:
      return "retried";
    case JobEnd::kDead:
      return "dead";
    case JobEnd::kSnoozed:
      return "snoozed";
    case JobEnd::kCancelled:
      return "cancelled";
    case JobEnd::kReleased:
      return "released";
    case JobEnd::kNone:
      break;
  }
  return "none";
}

void JobEndCounts::Add(JobEnd end, uint64_t n) {
  switch (end) {
    case JobEnd::kCompleted:
      completed += n;
      break;
    case JobEnd::kRetried:
      retried += n;
      break;
    case JobEnd::kDead:
      dead += n;
      break;
    case JobEnd::kSnoozed:
      snoozed += n;
      break;
    case JobEnd::kCancelled:
      cancelled += n;
      break;
    case JobEnd::kReleased:
    case JobEnd::kNone:
      released += n;
      break;
  }
}

JobEndCounts& JobEndCounts::operator+=(const JobEndCounts& other) {
  completed += other.completed;
  retried += other.retried;
  dead += other.dead;
  snoozed += other.snoozed;
  cancelled += other.cancelled;
  released += other.released;
  return *this;
}

}  // namespace qg
