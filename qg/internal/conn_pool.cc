#include "qg/internal/conn_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace qg::internal {

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
    absl::MutexLock lock(&mu_);
    while (true) {
      if (closed_) return absl::FailedPreconditionError("client is closed");
      while (!idle_.empty()) {
        ConnPtr conn = std::move(idle_.front());
        idle_.pop_front();
        // A server that restarted or terminated the backend while the
        // connection sat idle has closed its end: reading what is there
        // (without blocking) notices that, and the connection is replaced
        // instead of failing the caller's first statement.
        if (PQconsumeInput(conn.get()) == 1 &&
            PQstatus(conn.get()) == CONNECTION_OK) {
          return PooledConn(shared_from_this(), std::move(conn));
        }
        --open_;  // broken while idle: drop it
      }
      if (open_ < max_conns_) {
        ++open_;
        break;  // open a new one outside the lock
      }
      auto available = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return closed_ || !idle_.empty() || open_ < max_conns_;
      };
      if (!mu_.AwaitWithDeadline(absl::Condition(&available), deadline)) {
        return absl::UnavailableError(absl::StrCat(
            "no database connection free within ",
            absl::FormatDuration(timeout), " (pool of ", max_conns_, ")"));
      }
    }
  }
  absl::StatusOr<ConnPtr> conn = Connect(conninfo_);
  absl::Status s = conn.ok() ? absl::OkStatus() : conn.status();
  if (s.ok() && on_connect_) s = on_connect_(conn->get());
  if (!s.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return s;
  }
  return PooledConn(shared_from_this(), std::move(*conn));
}

void ConnPool::Return(ConnPtr conn) {
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
  absl::MutexLock lock(&mu_);
  if (conn == nullptr || closed_) {
    --open_;
    return;  // ConnPtr closes it
  }
  idle_.push_back(std::move(conn));
}

void ConnPool::Close() {
  std::deque<ConnPtr> idle;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    open_ -= static_cast<int>(idle_.size());
    idle.swap(idle_);
  }
}

int ConnPool::open() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

int ConnPool::idle() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(idle_.size());
}

}  // namespace qg::internal
