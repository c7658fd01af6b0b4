#include "qg/worker/control_listener.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qg/internal/queries.h"
#include "qg/internal/sql.h"
#include "qg/internal/sync.h"
#include "qg/pg.h"

namespace qg::internal {

ControlListener::ControlListener(std::string conninfo, std::string queue,
                                 Hooks hooks, Logger* logger)
    : conninfo_(std::move(conninfo)),
      queue_(std::move(queue)),
      hooks_(std::move(hooks)),
      logger_(logger) {}

ControlListener::~ControlListener() { Stop(); }

absl::StatusOr<PgConnPtr> ControlListener::ConnectAndListen() {
  absl::StatusOr<PgConnPtr> conn = Connect(conninfo_);
  if (!conn.ok()) return conn;
  if (absl::Status s = Run(conn->get(), queries::ListenControl()).status();
      !s.ok()) {
    return s;
  }
  return conn;
}

absl::Status ControlListener::Start() {
  if (thread_.joinable()) return absl::OkStatus();
  // Listening, and the pause state read, before any worker starts: a pool
  // started on a paused queue must not take a job first, and a cancel
  // request for its first job must not go unheard. The thread keeps both
  // current.
  absl::StatusOr<PgConnPtr> first = ConnectAndListen();
  if (first.ok()) {
    absl::StatusOr<PgResult> r =
        Run(first->get(), queries::QueuePaused(queue_));
    if (r.ok()) paused_ = r->rows() == 1 && r->Get(0, 0) == "t";
  }
  absl::StatusOr<std::thread> t = StartThread(
      [this, first = std::move(first)]() mutable { Loop(std::move(first)); });
  if (!t.ok()) return t.status();
  thread_ = std::move(*t);
  return absl::OkStatus();
}

void ControlListener::Stop() {
  stop_ = true;
  wake_.Wake();
  if (thread_.joinable()) thread_.join();
}

void ControlListener::Loop(absl::StatusOr<PgConnPtr> first) {
  const Clock& clock = RealClock();
  absl::Duration backoff = absl::Milliseconds(100);
  bool use_first = true;
  while (!stop_) {
    absl::StatusOr<PgConnPtr> conn =
        use_first ? std::move(first) : ConnectAndListen();
    use_first = false;
    if (!conn.ok()) {
      logger_->Log(
          LogLevel::kWarning,
          absl::StrCat("qg: control listener: ", conn.status().ToString(),
                       "; retrying in ", absl::FormatDuration(backoff)));
      wake_.Wait(-1, clock.Now() + backoff, clock);
      backoff = std::min(backoff * 2, absl::Seconds(5));
      continue;
    }
    backoff = absl::Milliseconds(100);
    Listen(conn->get(), clock);  // until the connection breaks, or Stop()
  }
}

void ControlListener::Listen(PGconn* conn, const Clock& clock) {
  Polling polling;
  absl::Time next_check = absl::InfinitePast();
  while (!stop_) {
    absl::Time now = clock.Now();
    std::vector<int64_t> asked;
    if (now >= next_check) {
      // The polling fallback: a NOTIFY may have gone missing (sent while
      // this connection was being made).
      Poll(conn, polling, asked);
      if (PQstatus(conn) != CONNECTION_OK) return;
      next_check = now + absl::Seconds(1);
    }
    if (asked.empty()) wake_.Wait(PQsocket(conn), next_check, clock);
    if (PQconsumeInput(conn) != 1 || PQstatus(conn) != CONNECTION_OK) {
      return;  // reconnect
    }
    ReadNotifications(conn, asked);
    if (!asked.empty()) AckAndCancel(conn, asked);
  }
}

void ControlListener::Poll(PGconn* conn, Polling& polling,
                           std::vector<int64_t>& asked) {
  if (polling.state) {
    absl::StatusOr<PgResult> r = Run(conn, queries::QueuePaused(queue_));
    if (r.ok()) {
      paused_ = r->rows() == 1 && r->Get(0, 0) == "t";
    } else if (SqlState(r.status()) == "42P01") {
      polling.state = false;  // not migrated: nothing can be paused
    }
  }
  if (polling.cancels) {
    absl::StatusOr<PgResult> r = Run(conn, queries::PendingCancels());
    if (r.ok()) {
      absl::StatusOr<std::vector<int64_t>> ids = ReadIds(*r, 0);
      if (ids.ok()) {
        for (int64_t id : *ids) {
          if (hooks_.runs(id)) asked.push_back(id);
        }
      }
    } else if (SqlState(r.status()) == "42P01" ||
               SqlState(r.status()) == "42703") {
      // Not migrated (no qg_cancellations, or one without the run
      // columns): no request can apply to a job of ours.
      polling.cancels = false;
    }
  }
}

void ControlListener::ReadNotifications(PGconn* conn,
                                        std::vector<int64_t>& asked) {
  while (PGnotify* n = PQnotifies(conn)) {
    std::optional<ControlNotification> c = ParseControlNotification(n->extra);
    PQfreemem(n);
    if (!c) continue;
    if (c->kind == ControlNotification::Kind::kCancel) {
      if (hooks_.runs(c->id)) asked.push_back(c->id);
    } else if (c->queue == queue_) {
      paused_ = c->kind == ControlNotification::Kind::kPause;
    }
  }
}

void ControlListener::AckAndCancel(PGconn* conn,
                                   const std::vector<int64_t>& asked) {
  absl::StatusOr<PgResult> acked = Run(conn, queries::AckCancels(asked));
  if (!acked.ok()) return;
  absl::StatusOr<std::vector<int64_t>> ids = ReadIds(*acked, 0);
  if (!ids.ok()) return;
  for (int64_t id : *ids) hooks_.cancel(id);
}

}  // namespace qg::internal
