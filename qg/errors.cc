#include "qg/errors.h"

#include "absl/strings/cord.h"

namespace qg {
namespace {

constexpr char kErrorPayload[] = "qg.error";

absl::Status Tagged(absl::StatusCode code, const char* message,
                    const char* tag) {
  absl::Status s(code, message);
  s.SetPayload(kErrorPayload, absl::Cord(tag));
  return s;
}

bool HasTag(const absl::Status& s, absl::StatusCode code, const char* tag) {
  if (s.code() != code) return false;
  auto p = s.GetPayload(kErrorPayload);
  return p.has_value() && *p == tag;
}

}  // namespace

absl::Status ErrAgain() {
  return Tagged(absl::StatusCode::kUnavailable,
                "maximum number of LockJob attempts reached", "again");
}

absl::Status ErrMissingType() {
  return Tagged(absl::StatusCode::kInvalidArgument,
                "job type must be specified", "missing_type");
}

bool IsErrAgain(const absl::Status& s) {
  return HasTag(s, absl::StatusCode::kUnavailable, "again");
}

bool IsErrMissingType(const absl::Status& s) {
  return HasTag(s, absl::StatusCode::kInvalidArgument, "missing_type");
}

}  // namespace qg
