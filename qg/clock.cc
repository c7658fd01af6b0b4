#include "qg/clock.h"

#include "absl/time/clock.h"

namespace qg {
namespace {

class Real : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

const Clock& RealClock() {
  static const Real* clock = new Real;
  return *clock;
}

}  // namespace qg
