// qg/worker/work_map.h
// -----------------------------------------------------------------------------
//
// `WorkFunc` and `WorkMap`: which handler works which job type (Go qg's
// `WorkFunc` and `WorkMap`), with typed handlers for protobuf payloads.
//
// An untyped handler gets the `Job` and reads the raw JSON args (what Ruby Que
// jobs carry, usually a JSON array). A typed handler registered for a message
// type gets the args parsed into that message; args that do not parse fail
// the job with a clear message and never reach the handler.
//
// Example:
//   qg::WorkMap work_map;
//   // Untyped: the raw JSON args, e.g. [1,"two"].
//   work_map.Register("LegacyRubyJob", [](qg::Job& job) {
//     return Handle(job.args());
//   });
//   // Typed: jobs of type "example.SendEmail", args parsed.
//   work_map.Register<example::SendEmail>(
//       [](qg::Job& job, const example::SendEmail& email) {
//         return Send(email.to());
//       });
#ifndef QG_WORKER_WORK_MAP_H_
#define QG_WORKER_WORK_MAP_H_

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "qg/job.h"
#include "qg/logger.h"

namespace qg {

namespace internal {
class Watchdog;
}  // namespace internal

// WorkFunc
//
// Performs a job. A non-OK status (or a thrown exception) fails the job: its
// message is recorded as last_error and the job is retried with backoff. OK
// deletes the job. A handler may instead choose the outcome itself through
// the job's verbs (`job.Snooze(d)`, `job.Error(msg)`, `job.Delete()`): the
// first verb that succeeds is final, whatever the handler returns after it.
// The `Job&` is valid only while the handler runs: do not keep it.
using WorkFunc = std::function<absl::Status(Job& job)>;

// Snooze()
//
// What a handler returns to run its job again `delay` from now without
// counting a failure: the worker reschedules it (`Job::Snooze`), leaving
// error_count and last_error as they are, in both worker modes and, when
// the handler wrote through `Job::Tx()`, atomically with those writes. A
// negative or infinite delay returns `InvalidArgument` instead, which fails
// the job like any handler error.
//
// Example:
//   if (!RateLimiterAllows()) return qg::Snooze(absl::Seconds(30));
absl::Status Snooze(absl::Duration delay);

// The delay of a status made by `Snooze()`; nullopt for any other status.
std::optional<absl::Duration> SnoozeDelay(const absl::Status& status);

// Parses protobuf JSON (`args`) into `message`: `ArgsToMessage()` in
// qg/typed.h, what typed handlers get. Unknown fields are ignored (a newer
// producer may add some); an enum value this binary does not know by name
// (or, for a closed proto2 enum, by number) fails rather than vanish. Errors
// are `InvalidArgument` starting "args do not parse as <message type>: ".
absl::Status ParseTypedArgs(absl::string_view args,
                            google::protobuf::Message& message);

// WorkMap
//
// Job types to handlers. Register everything before handing the map to a
// worker; lookups are then thread-safe.
class WorkMap {
 public:
  // Register()
  //
  // Registers `fn` for jobs of `type`, replacing any earlier handler.
  void Register(std::string type, WorkFunc fn) {
    funcs_[std::move(type)] = std::move(fn);
  }

  // Register<T>()
  //
  // Registers a typed handler for protobuf message `T`, under `type` or, by
  // default, T's full message name (what `NewTypedJob()` uses).
  template <typename T>
  void Register(std::string type,
                std::function<absl::Status(Job&, const T&)> fn) {
    static_assert(std::is_base_of_v<google::protobuf::Message, T>,
                  "Register<T> needs a protobuf message type");
    Register(std::move(type), WorkFunc([fn = std::move(fn)](Job& job) {
               T message;
               if (absl::Status s = ParseTypedArgs(job.args(), message);
                   !s.ok()) {
                 return s;
               }
               return fn(job, message);
             }));
  }
  template <typename T>
  void Register(std::function<absl::Status(Job&, const T&)> fn) {
    Register<T>(std::string(T::descriptor()->full_name()), std::move(fn));
  }

  // SetTimeout()
  //
  // Jobs of `type` may run at most `timeout`: past it the handler is
  // cancelled (`Job::Cancelled()`), and the job fails with "job timed out
  // after <timeout>" and is retried with backoff. Enforced by `Worker` and
  // `WorkerPool`, not by synchronous mode. Default: no timeout.
  void SetTimeout(std::string type, absl::Duration timeout) {
    timeouts_[std::move(type)] = timeout;
  }

  // The timeout of `type`; `absl::InfiniteDuration()` when none is set.
  absl::Duration Timeout(absl::string_view type) const {
    auto it = timeouts_.find(type);
    return it == timeouts_.end() ? absl::InfiniteDuration() : it->second;
  }

  // The handler of `type`, or null.
  const WorkFunc* Find(absl::string_view type) const {
    auto it = funcs_.find(type);
    return it == funcs_.end() ? nullptr : &it->second;
  }

  size_t size() const { return funcs_.size(); }

  // Run()
  //
  // Runs the handler for `job`: `NotFound` with message
  // `unknown job type: "<type>"` when none is registered; a thrown exception
  // becomes `Internal` with "handler threw: <what()>". Does not finish the
  // job; see `PerformJob()`.
  absl::Status Run(Job& job) const;

 private:
  absl::flat_hash_map<std::string, WorkFunc> funcs_;
  absl::flat_hash_map<std::string, absl::Duration> timeouts_;
};

// PerformJob()
//
// What a worker does with a locked job: `work_map.Run(job)`, then
// `job.Delete()` on success or `job.Error(message)` on failure, then
// `job.Done()`; when the handler chose the outcome itself (it called
// `job.Snooze()`, `job.Error()`, `job.Delete()`, or `job.Done()`), only
// `job.Done()`: that outcome is final. Returns the handler's status (or the
// Delete/Error failure).
// With a `watchdog`, the type's timeout is enforced (see `SetTimeout`) and a
// job cancelled by shutdown that failed is released without an error.
absl::Status PerformJob(Job& job, const WorkMap& work_map, Logger& logger,
                        internal::Watchdog* watchdog = nullptr);

// Synchronously()
//
// A runner for `ClientOptions::synchronous`: performs each enqueued job
// inline with `work_map` (which must outlive the client), logging to
// `logger` (default: glog).
//
// Example:
//   qg::ClientOptions options;
//   options.synchronous = qg::Synchronously(&work_map);
std::function<absl::Status(Job&)> Synchronously(const WorkMap* work_map,
                                                Logger* logger = nullptr);

}  // namespace qg

#endif  // QG_WORKER_WORK_MAP_H_
