#include "qg/internal/conn_pool.h"

#include <poll.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "qg/internal/sync.h"

namespace qg::internal {
namespace {

// Whether an idle connection is still usable: reads what the server sent
// meanwhile without blocking. A terminated backend sends an error and then
// closes its end; the first read may see only the error, so look again
// while there is more, and take a hang-up for what it is.
bool StillAlive(PGconn* conn) {
  for (int i = 0; i < 3; ++i) {
    if (PQconsumeInput(conn) != 1 || PQstatus(conn) != CONNECTION_OK) {
      return false;
    }
    struct pollfd fd = {PQsocket(conn), POLLIN | POLLRDHUP, 0};
    if (poll(&fd, 1, 0) <= 0) return true;  // nothing more to read
    if (fd.revents & (POLLRDHUP | POLLHUP | POLLERR)) return false;
  }
  return true;
}

}  // namespace

PooledConn& PooledConn::operator=(PooledConn&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::move(other.pool_);
    conn_ = std::move(other.conn_);
  }
  return *this;
}

void PooledConn::Release() {
  if (conn_ == nullptr) return;
  if (pool_ != nullptr) {
    pool_->Return(std::move(conn_));
  }
  conn_.reset();
  pool_.reset();
}

void PooledConn::Discard() {
  if (conn_ == nullptr) return;
  conn_.reset();
  if (pool_ != nullptr) pool_->Return(nullptr);
  pool_.reset();
}

std::shared_ptr<ConnPool> ConnPool::Create(std::string conninfo, int max_conns,
                                           OnConnect on_connect) {
  return std::shared_ptr<ConnPool>(new ConnPool(std::move(conninfo),
                                                max_conns < 1 ? 1 : max_conns,
                                                std::move(on_connect)));
}

absl::StatusOr<PooledConn> ConnPool::Acquire(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  {
    MutexLock lock(mu_);
    while (true) {
      if (closed_) return absl::FailedPreconditionError("client is closed");
      while (!idle_.empty()) {
        PgConnPtr conn = std::move(idle_.front());
        idle_.pop_front();
        // A server that restarted or terminated the backend while the
        // connection sat idle has closed its end: reading what is there
        // (without blocking) notices that, and the connection is replaced
        // instead of failing the caller's first statement.
        if (StillAlive(conn.get())) {
          return PooledConn(shared_from_this(), std::move(conn));
        }
        --open_;  // broken while idle: drop it
      }
      if (open_ < max_conns_) {
        ++open_;
        break;  // open a new one outside the lock
      }
      auto available = [this] {
        mu_.AssertHeld();
        return closed_ || !idle_.empty() || open_ < max_conns_;
      };
      if (!cv_.WaitUntil(lock, deadline, available)) {
        return absl::UnavailableError(absl::StrCat(
            "no database connection free within ",
            absl::FormatDuration(timeout), " (pool of ", max_conns_, ")"));
      }
    }
  }
  absl::StatusOr<PgConnPtr> conn = Connect(conninfo_);
  absl::Status s = conn.ok() ? absl::OkStatus() : conn.status();
  if (s.ok() && on_connect_) s = on_connect_(conn->get());
  if (!s.ok()) {
    MutexLock lock(mu_);
    --open_;
    cv_.Signal();
    return s;
  }
  return PooledConn(shared_from_this(), std::move(*conn));
}

void ConnPool::Return(PgConnPtr conn) {
  if (conn != nullptr) {
    PGTransactionStatusType ts = PQtransactionStatus(conn.get());
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
      // A caller left a transaction open: end it before reuse.
      if (!ExecSimple(conn.get(), "ROLLBACK").ok()) conn.reset();
    } else if (ts != PQTRANS_IDLE) {
      conn.reset();  // busy or broken
    }
    if (conn != nullptr && PQstatus(conn.get()) != CONNECTION_OK) conn.reset();
  }
  MutexLock lock(mu_);
  if (conn == nullptr || closed_) {
    --open_;
  } else {
    idle_.push_back(std::move(conn));
  }
  cv_.Signal();
}  // a connection not kept closes here

void ConnPool::Close() {
  std::deque<PgConnPtr> idle;
  {
    MutexLock lock(mu_);
    closed_ = true;
    open_ -= static_cast<int>(idle_.size());
    idle.swap(idle_);
  }
  cv_.SignalAll();
}

bool ConnPool::closed() const {
  MutexLock lock(mu_);
  return closed_;
}

int ConnPool::open() const {
  MutexLock lock(mu_);
  return open_;
}

int ConnPool::idle() const {
  MutexLock lock(mu_);
  return static_cast<int>(idle_.size());
}

}  // namespace qg::internal
