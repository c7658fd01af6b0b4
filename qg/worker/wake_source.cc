#include "qg/worker/wake_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace qg::internal {

std::optional<JobsNotification> ParseJobsNotification(
    absl::string_view payload) {
  size_t tab = payload.find('\t');
  if (tab == absl::string_view::npos) return std::nullopt;
  absl::string_view head = payload.substr(0, tab);
  JobsNotification n;
  n.queue = std::string(payload.substr(tab + 1));
  size_t colon = head.find(':');
  double epoch = 0;
  if (!absl::SimpleAtod(head.substr(0, colon), &epoch) ||
      !std::isfinite(epoch)) {
    return std::nullopt;
  }
  n.run_at = absl::FromUnixMicros(std::llround(epoch * 1e6));
  if (colon != absl::string_view::npos) {
    int priority = 0;
    if (!absl::SimpleAtoi(head.substr(colon + 1), &priority) ||
        priority < -32768 || priority > 32767) {
      return std::nullopt;
    }
    n.priority = static_cast<int16_t>(priority);
  }
  return n;
}

std::optional<ControlNotification> ParseControlNotification(
    absl::string_view payload) {
  size_t tab = payload.find('\t');
  if (tab == absl::string_view::npos) return std::nullopt;
  absl::string_view verb = payload.substr(0, tab);
  absl::string_view rest = payload.substr(tab + 1);
  ControlNotification n;
  if (verb == "pause" || verb == "resume") {
    n.kind = verb == "pause" ? ControlNotification::Kind::kPause
                             : ControlNotification::Kind::kResume;
    n.queue = std::string(rest);
    return n;
  }
  if (verb == "cancel" && absl::SimpleAtoi(rest, &n.id) && n.id > 0) {
    n.kind = ControlNotification::Kind::kCancel;
    return n;
  }
  return std::nullopt;
}

WakeSource::WakeSource() {
  fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd_ < 0) error_ = errno;
}

WakeSource::~WakeSource() {
  if (fd_ >= 0) close(fd_);
}

absl::Status WakeSource::status() const {
  if (fd_ >= 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("eventfd: ", strerror(error_)));
}

void WakeSource::Wake() {
  // The waker changed what the locker looks at before this; the locker
  // clears `pending_` before it looks (see Wait()), so a wake-up skipped
  // here is one whose change the locker is about to see.
  if (pending_.exchange(true)) return;
  uint64_t one = 1;
  ssize_t n = write(fd_, &one, sizeof(one));
  (void)n;
}

WakeSource::Event WakeSource::Wait(int socket, absl::Time deadline,
                                   const Clock& clock, int other_socket) {
  // poll() ignores entries whose fd is negative.
  struct pollfd fds[3] = {
      {fd_, POLLIN, 0}, {socket, POLLIN, 0}, {other_socket, POLLIN, 0}};
  int ms = -1;
  if (deadline != absl::InfiniteFuture()) {
    double left = absl::ToDoubleMilliseconds(deadline - clock.Now());
    ms = static_cast<int>(std::clamp(std::ceil(left), 0.0, 2.0e9));
  }
  int n = poll(fds, 3, ms);
  if (n <= 0) return Event::kDeadline;
  if (fds[0].revents & POLLIN) {
    uint64_t count;
    ssize_t r = read(fd_, &count, sizeof(count));
    (void)r;
    // Before the caller looks at what changed: a Wake() from here on writes
    // again.
    pending_.store(false);
    return Event::kWoken;
  }
  return Event::kSocket;
}

}  // namespace qg::internal
