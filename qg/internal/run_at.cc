#include "qg/internal/run_at.h"

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "qg/internal/sql.h"
#include "qg/pg.h"

namespace qg::internal {

absl::Time EarliestRunAt() {
  return absl::FromCivil(absl::CivilSecond(1, 1, 1, 0, 0, 0),
                         absl::UTCTimeZone());
}

absl::Time DeadRunAt() {
  static const absl::Time dead =
      qg::ParseTimestamp(sql::kDeadRunAt).value_or(absl::InfinitePast());
  return dead;
}

absl::Status CheckRunAt(absl::Time run_at) {
  if (run_at >= EarliestRunAt() && run_at < DeadRunAt()) {
    return absl::OkStatus();
  }
  std::string shown = run_at == absl::InfiniteFuture() ? "infinite future"
                      : run_at == absl::InfinitePast()
                          ? "infinite past"
                          : qg::FormatTimestamp(run_at);
  return absl::InvalidArgumentError(absl::StrCat(
      "run_at ", shown,
      " is outside the range a job may be scheduled in: from 0001-01-01 "
      "00:00:00 UTC up to, not including, ",
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", DeadRunAt(),
                       absl::UTCTimeZone()),
      " (the run_at that marks a dead job)"));
}

}  // namespace qg::internal
