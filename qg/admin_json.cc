#include "qg/admin_json.h"

namespace qg {

std::string JobStateName(const JobRecord& job, absl::Time now) {
  if (job.working()) return "working";
  if (job.cancelled()) return "cancelled";
  if (job.dead()) return "dead";
  if (job.error_count > 0) return "errored";
  if (job.run_at > now) return "scheduled";
  return "ready";
}

JsonObject StatsJson(const JobStats& s, bool paused) {
  JsonObject j;
  j.String("queue", s.queue)
      .String("type", s.type)
      .Int("count", s.count)
      .Int("working", s.count_working)
      .Int("errored", s.count_errored)
      .Int("highest_error_count", s.highest_error_count)
      .Int("dead", s.count_dead)
      .Time("oldest_run_at", s.oldest_run_at)
      .Bool("paused", paused);
  return j;
}

namespace {

// The members a job's list entry and its detail share, in their order, with
// `last_error` (its first line in a list, all of it in the detail).
JsonObject JobJson(const JobRecord& job, absl::Time now,
                   absl::string_view last_error) {
  JsonObject j;
  j.Int("id", job.id)
      .String("queue", job.queue)
      .String("type", job.type)
      .Int("priority", job.priority)
      .Time("run_at", job.run_at)
      .Int("error_count", job.error_count)
      .StringOrNull("last_error", last_error)
      .Bool("working", job.working())
      .String("state", JobStateName(job, now));
  return j;
}

}  // namespace

JsonObject JobListJson(const JobRecord& job, absl::Time now) {
  JsonObject j = JobJson(job, now, job.last_error_line);
  j.String("cursor", job.cursor().Encode());
  return j;
}

JsonObject JobDetailJson(const JobRecord& job, absl::Time now) {
  JsonObject j = JobJson(job, now, job.last_error);
  j.Int("held_by_pid", job.held_by_pid);
  if (job.args_truncated() || job.args.empty()) {
    j.Null("args");
  } else {
    j.Raw("args", job.args);
  }
  j.Bool("last_error_truncated", job.last_error_truncated())
      .Int("last_error_bytes", job.last_error_bytes)
      .Bool("args_truncated", job.args_truncated())
      .Int("args_bytes", job.args_bytes);
  if (job.args_truncated()) j.String("args_preview", job.args);
  return j;
}

JsonObject BulkResultJson(const BulkResult& r) {
  JsonObject j;
  j.Int("changed", r.changed)
      .Int("skipped_held", r.skipped_held)
      .Int("skipped_moved", r.skipped_moved)
      .Int("skipped_cancelled", r.skipped_cancelled);
  return j;
}

JsonObject LimitJson(const LimitInfo& i) {
  const Limit& l = i.limit;
  JsonObject j;
  j.String("name", l.name)
      .OptionalString("queue", l.queue)
      .OptionalString("type", l.type)
      .String("key_by", KeyByName(l.key_by))
      .Strings("key_args", l.key_args)
      .OptionalInt("concurrency", l.concurrency)
      .Bool("per_pool", l.per_pool);
  if (l.rate.has_value()) {
    j.Int("rate", *l.rate)
        .Double("rate_period_seconds", absl::ToDoubleSeconds(l.rate_period));
  } else {
    j.Null("rate").Null("rate_period_seconds");
  }
  j.Int("rate_burst", l.rate_burst)
      .Int("slots_high", i.slots_high)
      .Time("updated_at", i.updated_at)
      .Int("running", i.running)
      .Int("busiest_bucket", i.busiest)
      .Int("buckets_running", i.buckets)
      .Int("waiting", i.waiting)
      .Bool("waiting_capped", i.waiting_capped);
  return j;
}

JsonObject BatchJson(const BatchInfo& b) {
  JsonObject j;
  j.Int("id", b.id).String("description", b.description);
  j.Time("created_at", b.created_at);
  j.OptionalTime("sealed_at", b.sealed_at);
  j.OptionalTime("finished_at", b.finished_at);
  j.Int("total", b.total).Int("completed", b.completed).Int("dead", b.dead);
  j.Int("cancelled", b.cancelled).Int("waiting", b.waiting());
  for (auto [name, id] : {std::pair{"success_job_id", b.success_job_id},
                          std::pair{"finish_job_id", b.finish_job_id}}) {
    if (id.has_value()) {
      j.Int(name, *id);
    } else {
      j.Null(name);
    }
  }
  return j;
}

JsonObject WorkflowJson(const WorkflowGraph& graph) {
  std::vector<JsonObject> nodes;
  for (const WorkflowGraph::Node& n : graph.nodes) {
    JsonObject j;
    j.Int("id", n.id).String("type", n.type).String("queue", n.queue);
    j.String("state", n.state);
    nodes.push_back(std::move(j));
  }
  std::vector<JsonObject> edges;
  for (const WorkflowGraph::Edge& e : graph.edges) {
    JsonObject j;
    j.Int("parent", e.parent).Int("child", e.child);
    j.String("state", e.state == ParentJob::State::kWaiting     ? "waiting"
                      : e.state == ParentJob::State::kCompleted ? "completed"
                                                                : "failed");
    edges.push_back(std::move(j));
  }
  JsonObject o;
  o.Raw("nodes", JsonArray(nodes)).Raw("edges", JsonArray(edges));
  o.Bool("truncated", graph.truncated);
  return o;
}

JsonObject FinishedJobJson(const FinishedJob& f, bool full) {
  JsonObject j;
  j.Int("id", f.id);
  j.String("queue", f.queue);
  j.String("type", f.type);
  j.Int("priority", f.priority);
  j.String("state", "finished");
  j.String("outcome", std::string(JobOutcomeName(f.outcome)));
  j.Int("attempts", f.attempts);
  j.OptionalTime("enqueued_at", f.enqueued_at);
  j.OptionalTime("first_started_at", f.first_started_at);
  j.OptionalTime("started_at", f.started_at);
  j.Time("finished_at", f.finished_at);
  if (f.run_time.has_value()) {
    j.Double("run_time_s", absl::ToDoubleSeconds(*f.run_time));
  } else {
    j.Null("run_time_s");
  }
  j.OptionalString("last_error", f.last_error);
  j.Int("output_bytes", f.output_bytes);
  if (full) {
    // Cut JSON is not JSON: then it goes as a string.
    if (f.args_truncated()) {
      j.String("args", f.args);
    } else {
      j.Raw("args", f.args);
    }
    j.Int("args_bytes", f.args_bytes);
    if (!f.output.has_value()) {
      j.Null("output");
    } else if (f.output_truncated()) {
      j.String("output", *f.output);
    } else {
      j.Raw("output", *f.output);
    }
  }
  return j;
}

}  // namespace qg
