#include "qg/logger.h"

#include "glog/logging.h"

namespace qg {
namespace {

class GlogLogger : public Logger {
 public:
  void Log(LogLevel level, absl::string_view message) override {
    switch (level) {
      case LogLevel::kDebug:
        VLOG(1) << message;
        break;
      case LogLevel::kInfo:
        LOG(INFO) << message;
        break;
      case LogLevel::kWarning:
        LOG(WARNING) << message;
        break;
      case LogLevel::kError:
        LOG(ERROR) << message;
        break;
    }
  }
};

}  // namespace

Logger& DefaultLogger() {
  static GlogLogger* logger = new GlogLogger;
  return *logger;
}

}  // namespace qg
