#include "qg/limits.h"

#include <cctype>
#include <cstdint>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "qg/internal/pg.h"
#include "qg/internal/queries.h"
#include "qg/internal/utf8.h"
#include "qg/pg.h"

namespace qg {
namespace {

absl::Status MissingTable() {
  return absl::FailedPreconditionError(
      "flow-control limits need the qg_limits table: run `qg migrate`");
}

absl::Status LimitError(const absl::Status& status) {
  if (SqlState(status) == "42P01" || SqlState(status) == "42883") {
    return MissingTable();
  }
  return status;
}

absl::StatusOr<Rows> Query(Executor& exec, const internal::Call& call) {
  absl::StatusOr<Rows> rows = exec.Query(call.statement->text, call.params);
  if (!rows.ok()) return LimitError(rows.status());
  return rows;
}

// Text a name, queue, type or field may be: UTF-8 without NUL bytes (and,
// for names, control characters), 1 to `max` bytes.
absl::Status CheckText(absl::string_view what, absl::string_view text,
                       size_t max, bool no_controls) {
  if (text.empty() || text.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit ", what, ": must be 1 to ", max, " bytes"));
  }
  if (internal::FirstInvalidUtf8(text) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit ", what, ": not valid UTF-8"));
  }
  for (char c : text) {
    if (c == '\0' ||
        (no_controls && std::iscntrl(static_cast<unsigned char>(c)))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "limit ", what, ": ",
          no_controls ? "control characters" : "NUL bytes", " not allowed"));
    }
  }
  return absl::OkStatus();
}

std::vector<SqlParam> Params(const Limit& l) {
  auto opt_int = [](const std::optional<int>& v) {
    return v ? SqlParam(absl::StrCat(*v)) : SqlParam();
  };
  return {
      l.name,
      l.queue ? SqlParam(*l.queue) : SqlParam(),
      l.type ? SqlParam(*l.type) : SqlParam(),
      std::string(KeyByName(l.key_by)),
      internal::ArrayLiteral(l.key_by == Limit::KeyBy::kArgs
                                 ? l.key_args
                                 : std::vector<std::string>{}),
      opt_int(l.concurrency),
      l.per_pool ? "true" : "false",
      opt_int(l.rate),
      l.rate ? SqlParam(absl::StrCat(absl::ToInt64Microseconds(l.rate_period),
                                     " microseconds"))
             : SqlParam(),
      absl::StrCat(l.rate_burst),
  };
}

internal::Call LimitCall(const internal::sql::Statement& s, const Limit& l) {
  return {&s, Params(l)};
}

}  // namespace

absl::string_view KeyByName(Limit::KeyBy key_by) {
  switch (key_by) {
    case Limit::KeyBy::kNone:
      return "none";
    case Limit::KeyBy::kJob:
      return "job";
    case Limit::KeyBy::kArgs:
      return "args";
  }
  return "none";
}

std::optional<Limit::KeyBy> ParseKeyBy(absl::string_view name) {
  if (name == "none") return Limit::KeyBy::kNone;
  if (name == "job") return Limit::KeyBy::kJob;
  if (name == "args") return Limit::KeyBy::kArgs;
  return std::nullopt;
}

absl::Status ValidateLimit(const Limit& l) {
  if (absl::Status s = CheckText("name", l.name, 200, true); !s.ok()) return s;
  if (l.queue) {
    // Que's default queue is the empty name.
    if (!l.queue->empty()) {
      if (absl::Status s = CheckText("queue", *l.queue, 8000, false); !s.ok()) {
        return s;
      }
    }
  }
  if (l.type) {
    if (absl::Status s = CheckText("type", *l.type, 8000, false); !s.ok()) {
      return s;
    }
  }
  if (!l.concurrency && !l.rate) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit ", l.name, ": set a concurrency, a rate or both"));
  }
  if (l.concurrency && (*l.concurrency < 0 || *l.concurrency > 1000)) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit ", l.name, ": concurrency must be 0 to 1000, not ",
                     *l.concurrency));
  }
  if (l.rate) {
    if (*l.rate < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "limit ", l.name, ": rate must be at least 1, not ", *l.rate));
    }
    if (l.rate_period < absl::Milliseconds(1) ||
        l.rate_period > absl::Hours(24 * 366)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "limit ", l.name, ": rate period must be 1ms to 366 days, not ",
          absl::FormatDuration(l.rate_period)));
    }
  }
  if (l.rate_burst < 1 || l.rate_burst > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "limit ", l.name, ": burst must be 1 to 1000000, not ", l.rate_burst));
  }
  if (l.key_by == Limit::KeyBy::kArgs) {
    if (l.key_args.empty() || l.key_args.size() > 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "limit ", l.name, ": key by args needs 1 to 16 field names"));
    }
    for (const std::string& f : l.key_args) {
      if (absl::Status s = CheckText("args field", f, 200, true); !s.ok()) {
        return s;
      }
    }
  } else if (!l.key_args.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit ", l.name, ": args fields need key by args"));
  }
  return absl::OkStatus();
}

absl::Status SetLimit(Executor& exec, const Limit& limit) {
  if (absl::Status s = ValidateLimit(limit); !s.ok()) return s;
  return Query(exec, LimitCall(internal::sql::kLimitSet, limit)).status();
}

absl::StatusOr<bool> EnsureLimit(Executor& exec, const Limit& limit) {
  if (absl::Status s = ValidateLimit(limit); !s.ok()) return s;
  absl::StatusOr<Rows> r =
      Query(exec, LimitCall(internal::sql::kLimitEnsure, limit));
  if (!r.ok()) return r.status();
  return !r->rows.empty();
}

absl::StatusOr<bool> RemoveLimit(Executor& exec, absl::string_view name) {
  absl::StatusOr<Rows> r = Query(
      exec, internal::Call{&internal::sql::kLimitRemove, {std::string(name)}});
  if (!r.ok()) return r.status();
  return !r->rows.empty();
}

absl::StatusOr<std::vector<LimitInfo>> ListLimits(Executor& exec,
                                                  int max_scan) {
  // Rate state that no longer matters goes first, where the role may
  // delete it: listing works for a read-only role too.
  absl::StatusOr<Rows> may = exec.Query(internal::sql::kLimitMayPrune.text, {});
  if (!may.ok()) {
    if (SqlState(may.status()) == "42P01") return std::vector<LimitInfo>{};
    return may.status();
  }
  if (may->rows.size() == 1 && may->rows[0][0] == "t") {
    if (absl::StatusOr<Rows> pruned =
            exec.Query(internal::sql::kLimitPrune.text, {});
        !pruned.ok()) {
      return pruned.status();
    }
  }
  absl::StatusOr<Rows> r =
      exec.Query(internal::sql::kLimitList.text, {absl::StrCat(max_scan)});
  if (!r.ok()) {
    if (SqlState(r.status()) == "42P01") return std::vector<LimitInfo>{};
    return r.status();
  }
  auto col = [&](absl::string_view name) -> int {
    for (size_t i = 0; i < r->columns.size(); ++i) {
      if (r->columns[i] == name) return static_cast<int>(i);
    }
    return -1;
  };
  std::vector<LimitInfo> out;
  for (const auto& row : r->rows) {
    auto text = [&](absl::string_view name) -> std::optional<std::string> {
      int i = col(name);
      return i < 0 ? std::nullopt : row[i];
    };
    auto number = [&](absl::string_view name) -> int64_t {
      int64_t v = 0;
      std::optional<std::string> t = text(name);
      if (t) (void)absl::SimpleAtoi(*t, &v);
      return v;
    };
    LimitInfo info;
    Limit& l = info.limit;
    l.name = text("name").value_or("");
    l.queue = text("queue");
    l.type = text("job_class");
    l.key_by = ParseKeyBy(text("key_by").value_or("none"))
                   .value_or(Limit::KeyBy::kNone);
    if (std::string fields = text("key_args").value_or(""); !fields.empty()) {
      l.key_args = absl::StrSplit(fields, '\x1f');
    }
    if (text("concurrency"))
      l.concurrency = static_cast<int>(number("concurrency"));
    l.per_pool = text("per_pool") == "t";
    if (text("rate")) {
      l.rate = static_cast<int>(number("rate"));
      double seconds = 0;
      (void)absl::SimpleAtod(text("rate_period").value_or("1"), &seconds);
      l.rate_period =
          absl::Microseconds(static_cast<int64_t>(seconds * 1e6 + 0.5));
    }
    l.rate_burst = static_cast<int>(number("rate_burst"));
    info.slots_high = static_cast<int>(number("slots_high"));
    if (std::optional<std::string> t = text("updated_at")) {
      absl::StatusOr<absl::Time> at = ParseTimestamp(*t);
      if (at.ok()) info.updated_at = *at;
    }
    info.running = number("running");
    info.busiest = number("busiest");
    info.buckets = number("buckets");
    info.waiting = number("waiting");
    info.waiting_capped = text("waiting_capped") == "t";
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace qg
