// qg/workflow.h
// -----------------------------------------------------------------------------
//
// Workflows: jobs that run after other jobs. A job with parents
// (`NewJob::depends_on`) waits in que_jobs at run_at 9000-01-01, where no
// worker looks (qg-cpp pools, Ruby Que, que-go and qg alike), and becomes
// runnable in the transaction that completes its last parent, whoever
// completes it. A parent that dies or is cancelled cancels its waiting
// descendants (or, with `NewJob::OnParentFailure::kRun`, counts as
// settled). `Workflow` enqueues a whole graph in one transaction;
// `Client::GetParents()` tells a child its parents' outcomes and outputs.
//
// Example (a diamond: B and C after A, D after both):
//   qg::Workflow w;
//   size_t a = w.Add({.type = "Fetch"});
//   size_t b = w.Add({.type = "Resize"}, {a});
//   size_t c = w.Add({.type = "Scan"}, {a});
//   w.Add({.type = "Publish"}, {b, c});
//   absl::StatusOr<std::vector<int64_t>> ids = client->EnqueueWorkflow(w);
#ifndef QG_WORKFLOW_H_
#define QG_WORKFLOW_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qg/job.h"

namespace qg {

// Workflow
//
// A graph of jobs to enqueue together (`Client::EnqueueWorkflow`): each job
// runs after the earlier jobs of the workflow it names, and after its own
// `NewJob::depends_on` (ids of jobs stored already). Edges point only to
// earlier jobs, so a workflow has no cycle by construction. Not
// thread-safe; copyable.
class Workflow {
 public:
  // Add()
  //
  // Adds `job`, to run after the jobs `after` names (values earlier `Add()`
  // calls returned), and returns its handle: its place in the ids
  // `EnqueueWorkflow()` returns. A handle not returned yet makes
  // `EnqueueWorkflow()` fail with `InvalidArgument`, nothing stored.
  size_t Add(NewJob job, std::vector<size_t> after = {}) {
    nodes_.push_back({std::move(job), std::move(after)});
    return nodes_.size() - 1;
  }

  // The number of jobs added.
  size_t size() const { return nodes_.size(); }

  // A job and the handles of the jobs it runs after.
  struct Node {
    NewJob job;
    std::vector<size_t> after;
  };
  const std::vector<Node>& nodes() const { return nodes_; }

 private:
  std::vector<Node> nodes_;
};

// ParentJob
//
// One parent of a job, as `Client::GetParents()` reads it.
struct ParentJob {
  int64_t id = 0;
  // kWaiting: not finished yet; kCompleted; kFailed: died or was cancelled.
  enum class State { kWaiting, kCompleted, kFailed };
  State state = State::kWaiting;
  // The output its handler set (`Job::SetOutput`), when its queue records
  // history and the record is still kept; nullopt otherwise.
  std::optional<std::string> output;
};

// WorkflowGraph
//
// The workflow around a job, as `Admin::GetWorkflow()` reads it: the jobs
// linked to it by edges (either way, transitively) and the edges among
// them. A job that left que_jobs without a history record is `unknown`.
struct WorkflowGraph {
  struct Node {
    int64_t id = 0;
    std::string type;   // empty for an unknown job
    std::string queue;  // empty for an unknown job
    // waiting_for_parents, ready, scheduled, running, dead, cancelled,
    // completed (finished jobs: their record's outcome), unknown.
    std::string state;
  };
  struct Edge {
    int64_t parent = 0;
    int64_t child = 0;
    // kWaiting: the parent has not finished; kCompleted; kFailed.
    ParentJob::State state = ParentJob::State::kWaiting;
  };
  std::vector<Node> nodes;  // the asked-for job's first
  std::vector<Edge> edges;
  // More jobs are linked than the call's `max_nodes`: the graph is cut.
  bool truncated = false;
};

}  // namespace qg

#endif  // QG_WORKFLOW_H_
