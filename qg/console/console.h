// qg/console/console.h
// -----------------------------------------------------------------------------
//
// `qg::Console`: the web console of a qg-cpp queue. One page (HTML, CSS and
// JavaScript compiled into the binary; no CDN, nothing fetched) over a JSON
// API under /api/v1/, and /metrics in the Prometheus text format. Shows
// each queue and type's ready / scheduled / working / errored / dead
// counts, the oldest ready job's age and pause state, the throughput of the
// last hours (qg_job_counts), a filtered, keyset-paged job list and each
// job (args and last error cut at 64 KiB); retries, deletes and cancels
// jobs (saying whether a running one stopped, finished first or was only
// asked), retries all errored or dead jobs of a type, pauses and resumes
// queues. Lists the flow-control limits (qg/limits.h) with the jobs each
// holds and keeps waiting, and sets (creates or replaces) and removes them.
// Every change goes through `qg::Admin` (or the hooks of `ConsoleActions`),
// which never rewrites a job a worker holds.
//
// `qg console` runs one; embed one in your own binary the same way:
//
// Example:
//   QG_ASSIGN_OR_RETURN(std::unique_ptr<qg::Console> console,
//                       qg::Console::Start({.conninfo = "dbname=app",
//                                           .listen = "127.0.0.1:8080"}));
//   printf("console at %s\n", console->url().c_str());
//   ...
//   console->Stop();  // or let it go out of scope
//
// Security:
//   - It listens where told, 127.0.0.1:8080 by default (loopback only).
//     On a loopback address it answers only requests whose Host is
//     localhost or an IP address (a page on another site cannot reach it
//     through DNS rebinding; `qg::CheckHost()`).
//   - `read_only` hides every action in the page and refuses it (403).
//   - Actions are POST and need the header X-QG-CSRF with the per-process
//     random token embedded in the page (403 without it): another site's
//     page can neither read the token nor send the header.
//   - `bearer_token`, when set, is needed by every request (401 without
//     it): "Authorization: Bearer TOKEN" (scripts, Prometheus), or the
//     page's sign-in form, which sets an HttpOnly, SameSite=Strict cookie.
//   - The page builds its DOM with textContent only and sends a
//     Content-Security-Policy that allows no inline script: a job whose
//     args or last_error hold "<script>" shows as text.
//   - The conninfo is shown only through `qg::RedactConninfo()`.
//   - Requests are read by `qg::HttpListener`'s front: a request must
//     arrive whole within 10 s of its first byte (64 KiB of body at most),
//     and only complete requests reach the `threads`, so slow or idle
//     clients hold none; /metrics is answered on a thread of its own.
#ifndef QG_CONSOLE_CONSOLE_H_
#define QG_CONSOLE_CONSOLE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "qg/job_end.h"
#include "qg/limits.h"

namespace qg {

// ConsoleActions
//
// How the console cancels jobs, pauses and resumes queues, and sets and
// removes limits. An unset hook uses the library's own
// (`qg::Admin::CancelJob()`, `PauseQueue()`, `ResumeQueue()`, `SetLimit()`,
// `RemoveLimit()`); set one to add a check or an audit log around it. A
// hook returns the status of the change (`NotFound` → 404,
// `FailedPrecondition` → 409, ...).
struct ConsoleActions {
  // Cancels job `id`, saying what it did (the console's message says the
  // same): `kCancelled`, or `kStopping` when a worker pool running it was
  // asked to stop it (the console then waits up to
  // `ConsoleOptions::cancel_wait` to say whether it stopped, finished
  // first, or still runs). Default: `Admin::CancelJob()`.
  std::function<absl::StatusOr<CancelOutcome>(int64_t id)> cancel_job;
  // Pauses queue `queue` ("" is the default queue): workers lock no new jobs
  // of it. Default: `Admin::PauseQueue()`.
  std::function<absl::Status(const std::string& queue)> pause_queue;
  // Resumes a paused queue. Default: `Admin::ResumeQueue()`.
  std::function<absl::Status(const std::string& queue)> resume_queue;
  // Creates or replaces `limit` (by name); the console has checked it with
  // `qg::ValidateLimit()`. Default: `Admin::SetLimit()`.
  std::function<absl::Status(const Limit& limit)> set_limit;
  // Removes the limit named `name`; false when there was none (the console
  // answers 404). Default: `Admin::RemoveLimit()`.
  std::function<absl::StatusOr<bool>(const std::string& name)> remove_limit;
};

// ConsoleOptions
struct ConsoleOptions {
  // A libpq connection string or URI. Required. Shown only redacted.
  std::string conninfo;
  // Where to listen: "HOST:PORT", "[IPV6]:PORT" or "PORT" (port 0 picks a
  // free one). Default: "127.0.0.1:8080".
  std::string listen = "127.0.0.1:8080";
  // Hides and refuses every action. Default: false.
  bool read_only = false;
  // When not empty, every request needs it (see the file comment). Give it
  // from a file or the environment, never a command line. Default: empty.
  std::string bearer_token;
  // The overview and /metrics are read from the database at most this
  // often, however many pages poll and scrapers scrape. Default: 5s.
  absl::Duration refresh = absl::Seconds(5);
  // The throughput chart's window, in minutes (1..1440). Default: 180.
  int throughput_minutes = 180;
  // Threads answering requests. Default: 4.
  int threads = 4;
  // Database connections the console opens for its reads and actions
  // (at least 1), beside one for the overview. Default: 2.
  int max_conns = 2;
  // Cancel, pause, resume and the limits' set and remove (see
  // `ConsoleActions`). Default: the library's.
  ConsoleActions actions;
  // How long a cancel of a running job waits for its handler to end, so
  // that the answer says how it ended ("cancelled", or "finished" first)
  // rather than only that it was asked ("requested"). Default: 3s.
  absl::Duration cancel_wait = absl::Seconds(3);
};

class Console {
 public:
  // Start()
  //
  // Connects (the errors of `Admin::Connect()`: bad conninfo →
  // `InvalidArgument`, unreachable → `Unavailable`, ...; messages never
  // hold a secret), then listens and serves on threads of its own. A bad
  // option or listen address → `InvalidArgument`; a port in use →
  // `Unavailable`.
  static absl::StatusOr<std::unique_ptr<Console>> Start(ConsoleOptions options);

  // Calls `Stop()`.
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // "http://127.0.0.1:8080/": the page's address.
  std::string url() const;

  // The port it listens on (the chosen one when the address said 0).
  int port() const;

  // The page's CSRF token (tests; scripts read it from the page).
  const std::string& csrf_token() const;

  // Stops serving and closes its connections. Idempotent.
  void Stop();

 private:
  class Impl;
  explicit Console(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qg

#endif  // QG_CONSOLE_CONSOLE_H_
