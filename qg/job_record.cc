#include "qg/job_record.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "qg/internal/sql.h"
#include "qg/job_end.h"
#include "qg/json_writer.h"
#include "qg/pg.h"

namespace qg {
namespace internal {
namespace {

// Reads rows of qg_list_jobs / qg_get_job by column name: the key, type,
// error count and holder; whichever of args, args_bytes, last_error,
// last_error_line and last_error_bytes the statement returns.
class RecordReader {
 public:
  explicit RecordReader(const PgResult& r) : r_(r) {}

  absl::StatusOr<JobRecord> Read(int row) const {
    JobRecord rec;
    int32_t priority = 0;
    bool ok = Required("queue", row, &rec.queue) &&
              Required("job_class", row, &rec.type) &&
              Number("priority", row, &priority) &&
              Number("job_id", row, &rec.id) &&
              Number("error_count", row, &rec.error_count);
    std::string run_at;
    ok = ok && Required("run_at", row, &run_at);
    if (!ok || priority < -32768 || priority > 32767) {
      return absl::InternalError(
          absl::StrCat("cannot read que_jobs row ", row, " (", bad_, ")"));
    }
    rec.priority = static_cast<int16_t>(priority);
    absl::StatusOr<absl::Time> t = ParseTimestamp(run_at);
    if (!t.ok()) return t.status();
    rec.run_at = *t;
    Optional("args", row, &rec.args);
    Optional("last_error", row, &rec.last_error);
    Optional("last_error_line", row, &rec.last_error_line);
    if (rec.last_error.empty()) rec.last_error = rec.last_error_line;
    if (rec.last_error_line.empty()) {
      rec.last_error_line = rec.last_error.substr(0, rec.last_error.find('\n'));
    }
    if (!OptionalNumber("args_bytes", row, &rec.args_bytes) ||
        !OptionalNumber("last_error_bytes", row, &rec.last_error_bytes) ||
        !OptionalNumber("held_by", row, &rec.held_by_pid)) {
      return absl::InternalError(absl::StrCat("cannot read ", bad_));
    }
    return rec;
  }

 private:
  bool Required(const char* column, int row, std::string* out) const {
    int c = PQfnumber(r_.get(), column);
    if (c < 0 || r_.IsNull(row, c)) {
      bad_ = column;
      return false;
    }
    *out = std::string(r_.Get(row, c));
    return true;
  }
  template <typename T>
  bool Number(const char* column, int row, T* out) const {
    std::string text;
    if (!Required(column, row, &text)) return false;
    if (absl::SimpleAtoi(text, out)) return true;
    bad_ = column;
    return false;
  }
  void Optional(const char* column, int row, std::string* out) const {
    int c = PQfnumber(r_.get(), column);
    if (c >= 0 && !r_.IsNull(row, c)) *out = std::string(r_.Get(row, c));
  }
  template <typename T>
  bool OptionalNumber(const char* column, int row, T* out) const {
    int c = PQfnumber(r_.get(), column);
    if (c < 0 || r_.IsNull(row, c)) return true;
    if (absl::SimpleAtoi(r_.Get(row, c), out)) return true;
    bad_ = column;
    return false;
  }

  const PgResult& r_;
  mutable std::string bad_;
};

}  // namespace

absl::StatusOr<JobRecord> ReadJobRecord(const PgResult& r, int row) {
  return RecordReader(r).Read(row);
}

}  // namespace internal

std::string JobCursor::Encode() const {
  return absl::StrCat(id, ",", priority, ",", FormatUtc(run_at), ",", queue);
}

absl::StatusOr<JobCursor> JobCursor::Decode(absl::string_view text) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits(',', 3));
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text,
        "\" is not a job cursor (ID,PRIORITY,RUN_AT,QUEUE as a listing "
        "prints it)"));
  };
  if (parts.size() != 4) return bad();
  JobCursor c;
  int32_t priority = 0;
  if (!absl::SimpleAtoi(parts[0], &c.id) ||
      !absl::SimpleAtoi(parts[1], &priority) || priority < -32768 ||
      priority > 32767) {
    return bad();
  }
  c.priority = static_cast<int16_t>(priority);
  std::string err;
  if (parts[2] == "infinity") {
    c.run_at = absl::InfiniteFuture();
  } else if (parts[2] == "-infinity") {
    c.run_at = absl::InfinitePast();
  } else if (!absl::ParseTime(absl::RFC3339_full, parts[2], &c.run_at, &err)) {
    return bad();
  }
  c.queue = std::string(parts[3]);
  return c;
}

bool JobRecord::dead() const {
  static const absl::Time dead = qg::ParseTimestamp(internal::sql::kDeadRunAt)
                                     .value_or(absl::InfiniteFuture());
  return run_at >= dead;
}

bool JobRecord::cancelled() const {
  return dead() && absl::StartsWith(last_error, kCancelledMarker);
}

JobCursor JobRecord::cursor() const {
  return JobCursor{
      .queue = queue, .priority = priority, .run_at = run_at, .id = id};
}

}  // namespace qg
