// qg/testing/latency_proxy.h
// -----------------------------------------------------------------------------
//
// A database far away, for tests: a Unix-socket proxy in front of a test
// server that holds every chunk of bytes for a fixed delay in each
// direction, so that each round trip takes at least twice that. Use its
// `Conninfo()` where the test's conninfo would go.
//
// Errors: `Start()` returns the failing system call's message (Internal) or
// InvalidArgument for a conninfo without a Unix-socket host.
#ifndef QG_TESTING_LATENCY_PROXY_H_
#define QG_TESTING_LATENCY_PROXY_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qg/internal/sync.h"

namespace qg_testing {

class LatencyProxy {
 public:
  // Listens in a fresh directory under /tmp and forwards each connection to
  // the server `conninfo` names (its `host`, a socket directory or an
  // abstract "@name", and `port`), delaying each chunk by `delay`. An end
  // that closes is closed at the other end `close_delay` later (a server
  // whose last words arrived but whose socket has not closed yet).
  static absl::StatusOr<std::unique_ptr<LatencyProxy>> Start(
      const std::string& conninfo, absl::Duration delay,
      absl::Duration close_delay = absl::ZeroDuration());
  // Closes every connection and joins its threads.
  ~LatencyProxy();

  // `conninfo` with host and port pointing at the proxy.
  std::string Conninfo() const;

  // How many ends have closed so far, each after everything it sent was
  // passed on (so a server's last words are at the client's socket once its
  // close is counted, whatever `close_delay` holds back).
  int ClosesSeen() const { return closes_seen_.load(); }

 private:
  LatencyProxy() = default;
  void AcceptLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void Pump(int from, int to);

  std::string conninfo_;
  std::string target_host_;
  int port_ = 0;
  std::string dir_;
  absl::Duration delay_;
  absl::Duration close_delay_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> closes_seen_{0};
  std::thread accept_thread_;
  qg::internal::Mutex mu_;
  // Both ends of every connection, and the two threads pumping each.
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qg_testing

#endif  // QG_TESTING_LATENCY_PROXY_H_
