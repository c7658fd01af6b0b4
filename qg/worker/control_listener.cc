#include "qg/worker/control_listener.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qg/internal/queries.h"
#include "qg/internal/sql.h"
#include "qg/pg.h"

namespace qg::internal {

ControlListener::ControlListener(std::string conninfo, std::string queue,
                                 Hooks hooks, Logger* logger)
    : conninfo_(std::move(conninfo)),
      queue_(std::move(queue)),
      hooks_(std::move(hooks)),
      logger_(logger) {}

ControlListener::~ControlListener() { Stop(); }

void ControlListener::Start() {
  if (thread_.joinable()) return;
  // The pause state before any worker starts (a pool started on a paused
  // queue must not take a job first); the thread keeps it current.
  if (absl::StatusOr<PgConnPtr> conn = Connect(conninfo_); conn.ok()) {
    absl::StatusOr<PgResult> r = Run(conn->get(), queries::QueuePaused(queue_));
    if (r.ok()) paused_ = r->rows() == 1 && r->Get(0, 0) == "t";
  }
  thread_ = std::thread([this] { Loop(); });
}

void ControlListener::Stop() {
  stop_ = true;
  wake_.Wake();
  if (thread_.joinable()) thread_.join();
}

void ControlListener::Loop() {
  const Clock& clock = RealClock();
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stop_) {
    absl::StatusOr<PgConnPtr> conn = Connect(conninfo_);
    if (conn.ok()) {
      absl::Status s = Run(conn->get(), queries::ListenControl()).status();
      if (!s.ok()) conn = s;
    }
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
    bool poll_state = true;  // until we learn qg_queues is missing
    absl::Time next_check = absl::InfinitePast();
    while (!stop_) {
      absl::Time now = clock.Now();
      if (poll_state && now >= next_check) {
        // The polling fallback: a NOTIFY may have gone missing.
        absl::StatusOr<PgResult> r =
            Run(conn->get(), queries::QueuePaused(queue_));
        if (r.ok()) {
          paused_ = r->rows() == 1 && r->Get(0, 0) == "t";
        } else if (SqlState(r.status()) == "42P01") {
          poll_state = false;  // not migrated: nothing can be paused
        } else if (PQstatus(conn->get()) != CONNECTION_OK) {
          break;
        }
        next_check = now + absl::Seconds(1);
      }
      wake_.Wait(PQsocket(conn->get()), next_check, clock);
      if (PQconsumeInput(conn->get()) != 1 ||
          PQstatus(conn->get()) != CONNECTION_OK) {
        break;  // reconnect
      }
      std::vector<int64_t> asked;
      while (PGnotify* n = PQnotifies(conn->get())) {
        std::optional<ControlNotification> c =
            ParseControlNotification(n->extra);
        PQfreemem(n);
        if (!c) continue;
        if (c->kind == ControlNotification::Kind::kCancel) {
          if (hooks_.runs(c->id)) asked.push_back(c->id);
        } else if (c->queue == queue_) {
          paused_ = c->kind == ControlNotification::Kind::kPause;
        }
      }
      if (asked.empty()) continue;
      absl::StatusOr<PgResult> acked =
          Run(conn->get(), queries::AckCancels(asked));
      if (!acked.ok()) continue;
      absl::StatusOr<std::vector<int64_t>> ids = ReadIds(*acked, 0);
      if (!ids.ok()) continue;
      for (int64_t id : *ids) hooks_.cancel(id);
    }
  }
}

}  // namespace qg::internal
