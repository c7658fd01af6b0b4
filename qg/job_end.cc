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

}  // namespace qg
