#include "qg/stats.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"

namespace qg {
namespace {

absl::Status ParseInt(const std::optional<std::string>& text, int64_t* out) {
  if (!text.has_value()) {
    *out = 0;
    return absl::OkStatus();
  }
  if (!absl::SimpleAtoi(*text, out)) {
    return absl::InternalError(absl::StrCat("bad integer in stats: ", *text));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<JobStats>> QueryJobStats(Executor& exec) {
  internal::Call call = internal::queries::JobStats();
  absl::StatusOr<Rows> rows = exec.Query(call.statement->text, call.params);
  if (!rows.ok()) return rows.status();
  std::vector<JobStats> out;
  for (const auto& row : rows->rows) {
    JobStats s;
    s.queue = row[0].value_or("");
    s.type = row[1].value_or("");
    for (auto [col, field] :
         {std::pair{2, &s.count}, std::pair{3, &s.count_working},
          std::pair{4, &s.count_errored},
          std::pair{5, &s.highest_error_count}}) {
      if (absl::Status st = ParseInt(row[col], field); !st.ok()) return st;
    }
    absl::StatusOr<absl::Time> t = qg::ParseTimestamp(row[6].value_or(""));
    if (!t.ok()) return t.status();
    s.oldest_run_at = *t;
    if (absl::Status st = ParseInt(row[7], &s.count_dead); !st.ok()) return st;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace qg
