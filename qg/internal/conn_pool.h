// qg/internal/conn_pool.h
// -----------------------------------------------------------------------------
//
// A bounded pool of libpq connections. Connections open lazily up to
// `max_conns`; each new one runs `on_connect` (qg prepares its statements
// there). A connection that comes back broken, or stuck in a transaction that
// cannot be rolled back, is closed instead of handed out again.
#ifndef QG_INTERNAL_CONN_POOL_H_
#define QG_INTERNAL_CONN_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qg/internal/sync.h"
#include "qg/pg.h"

namespace qg::internal {

class ConnPool;

// A connection borrowed from a `ConnPool`; returned on destruction.
class PooledConn {
 public:
  PooledConn() = default;
  PooledConn(PooledConn&& other) noexcept { *this = std::move(other); }
  PooledConn& operator=(PooledConn&& other) noexcept;
  ~PooledConn() { Release(); }

  PGconn* get() const { return conn_.get(); }
  explicit operator bool() const { return conn_ != nullptr; }

  // Returns the connection to the pool (closing it if it is unusable).
  void Release();
  // Closes the connection instead of returning it.
  void Discard();

  // The pool it came from (null once released).
  const std::shared_ptr<ConnPool>& pool() const { return pool_; }

 private:
  friend class ConnPool;
  PooledConn(std::shared_ptr<ConnPool> pool, PgConnPtr conn)
      : pool_(std::move(pool)), conn_(std::move(conn)) {}
  std::shared_ptr<ConnPool> pool_;
  PgConnPtr conn_;
};

class ConnPool : public std::enable_shared_from_this<ConnPool> {
 public:
  using OnConnect = std::function<absl::Status(PGconn*)>;

  static std::shared_ptr<ConnPool> Create(std::string conninfo, int max_conns,
                                          OnConnect on_connect);

  // Acquire()
  //
  // Borrows a connection, opening one if fewer than `max_conns` are open,
  // else waiting up to `timeout` for one to come back (`Unavailable` then).
  // After `Close()`: `FailedPrecondition`.
  absl::StatusOr<PooledConn> Acquire(absl::Duration timeout);

  // Closes idle connections and refuses further `Acquire()` calls; borrowed
  // connections close when they come back.
  void Close();

  // Whether `Close()` was called.
  bool closed() const;

  // Connections open now (idle and borrowed).
  int open() const;
  int idle() const;
  const std::string& conninfo() const { return conninfo_; }

 private:
  friend class PooledConn;
  ConnPool(std::string conninfo, int max_conns, OnConnect on_connect)
      : conninfo_(std::move(conninfo)),
        max_conns_(max_conns),
        on_connect_(std::move(on_connect)) {}
  void Return(PgConnPtr conn);

  const std::string conninfo_;
  const int max_conns_;
  const OnConnect on_connect_;
  mutable Mutex mu_;
  CondVar cv_;  // a connection came back, or a slot freed
  std::deque<PgConnPtr> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace qg::internal

#endif  // QG_INTERNAL_CONN_POOL_H_
