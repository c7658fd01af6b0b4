#include "qg/internal/guarded.h"

#include "absl/strings/str_cat.h"

namespace qg::internal {

absl::Status CaughtException(absl::string_view what) {
  try {
    throw;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, " threw: ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(
        what, " threw an exception not derived from std::exception"));
  }
}

void GuardedLogger::Log(LogLevel level, absl::string_view message) {
  try {
    inner_->Log(level, message);
  } catch (...) {
    absl::Status why = CaughtException("the client's logger");
    DefaultLogger().Log(level, message);
    DefaultLogger().Log(LogLevel::kError, why.message());
  }
}

}  // namespace qg::internal
