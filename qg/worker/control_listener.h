// qg/worker/control_listener.h
// -----------------------------------------------------------------------------
//
// Pause, resume and cancel requests for a qg-compatible `WorkerPool`
// (internal; a fast pool's locker session hears them itself). One connection
// LISTENs on `qg_control`; it also reads the queue's pause state once a
// second, with the cancel requests nobody took yet, in case a NOTIFY went
// missing (a reconnect). `Start()` returns once it listens. A cancel request
// for a job one of the pool's workers runs is acknowledged in
// qg_cancellations, then the job is asked to stop; only a request that
// still applies is taken: made of the run the worker holds now (the
// session that held the job then still holds it, the job's key unchanged)
// and not expired (qg/internal/sql/fragments/live_cancel.sql). A left-over
// request (its requester was killed) never cancels a later run of the job.
#ifndef QG_WORKER_CONTROL_LISTENER_H_
#define QG_WORKER_CONTROL_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qg/clock.h"
#include "qg/logger.h"
#include "qg/pg.h"
#include "qg/worker/wake_source.h"

namespace qg::internal {

class ControlListener {
 public:
  struct Hooks {
    // Whether one of the pool's workers runs job `id` now.
    std::function<bool(int64_t id)> runs;
    // Asks the worker running job `id` to stop it.
    std::function<void(int64_t id)> cancel;
  };

  ControlListener(std::string conninfo, std::string queue, Hooks hooks,
                  Logger* logger);
  // Calls `Stop()`.
  ~ControlListener();

  // Starts listening (on a thread of its own). Connection failures are
  // retried in the background.
  absl::Status Start();
  // Stops and joins. Idempotent.
  void Stop();

  // Whether the pool's queue is paused.
  bool paused() const { return paused_.load(); }

 private:
  // A connection that LISTENs on the control channel.
  absl::StatusOr<PgConnPtr> ConnectAndListen();
  // Serves `first` (a failure: connects again after a pause), then
  // reconnects whenever the connection is lost.
  void Loop(absl::StatusOr<PgConnPtr> first);
  // Serves one connection until it breaks or `Stop()`: a poll once a
  // second, NOTIFYs as they come, and the cancel requests they bring.
  void Listen(PGconn* conn, const Clock& clock);
  // What the poll still asks for (false once the table is known missing).
  struct Polling {
    bool state = true;    // qg_queues
    bool cancels = true;  // qg_cancellations
  };
  // Reads the pause state and the requests that may have been missed;
  // appends to `asked` the ids of those for jobs a worker runs.
  void Poll(PGconn* conn, Polling& polling, std::vector<int64_t>& asked);
  // Takes pause/resume NOTIFYs, and appends to `asked` the cancel
  // requests for jobs a worker runs.
  void ReadNotifications(PGconn* conn, std::vector<int64_t>& asked);
  // Acknowledges the requests in `asked` that still apply, and asks their
  // workers to stop those jobs.
  void AckAndCancel(PGconn* conn, const std::vector<int64_t>& asked);

  const std::string conninfo_;
  const std::string queue_;
  const Hooks hooks_;
  Logger* const logger_;
  WakeSource wake_;
  std::atomic<bool> paused_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace qg::internal

#endif  // QG_WORKER_CONTROL_LISTENER_H_
