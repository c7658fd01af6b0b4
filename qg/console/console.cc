#include "qg/console/console.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "qg/admin.h"
#include "qg/admin_json.h"
#include "qg/conninfo.h"
#include "qg/console/auth.h"
#include "qg/console/snapshot.h"
#include "qg/console/web_assets.h"
#include "qg/internal/conn_pool.h"
#include "qg/job_end.h"
#include "qg/json_writer.h"
#include "qg/limits.h"
#include "qg/metrics/http_listen.h"
#include "qg/metrics/limit_metrics.h"
#include "qg/metrics/prometheus.h"

namespace qg {
namespace {

using console::GroupCounts;
using console::MinuteCounts;
using console::Snapshot;

constexpr int kMaxPageLimit = 1000;

int HttpStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return 503;
    default:
      return 500;
  }
}

void SendJson(httplib::Response& res, int status, const std::string& json) {
  res.status = status;
  res.set_content(json, "application/json; charset=utf-8");
}

void SendError(httplib::Response& res, int status, absl::string_view message) {
  JsonObject o;
  o.String("error", message);
  SendJson(res, status, o.text());
}

void SendStatus(httplib::Response& res, const absl::Status& s) {
  SendError(res, HttpStatus(s), s.message());
}

std::optional<std::string> Param(const httplib::Request& req,
                                 const std::string& name) {
  if (!req.has_param(name)) return std::nullopt;
  return req.get_param_value(name);
}

// Refuses parameters other than `known` (a typo would silently widen a
// filter otherwise).
absl::Status OnlyParams(const httplib::Request& req,
                        const std::set<std::string>& known) {
  for (const auto& [name, value] : req.params) {
    if (known.count(name) == 0) {
      std::string names;
      for (const std::string& k : known) {
        absl::StrAppend(&names, names.empty() ? "" : ", ", k);
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown parameter \"", name, "\" (known: ", names, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseJobId(absl::string_view text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a job id"));
  }
  return id;
}

absl::StatusOr<JobFilter> ParseFilter(const httplib::Request& req) {
  JobFilter f;
  f.queue = Param(req, "queue");
  f.type = Param(req, "type");
  if (f.type.has_value() && f.type->empty()) f.type.reset();
  if (std::optional<std::string> state = Param(req, "state");
      state.has_value() && !state->empty()) {
    absl::StatusOr<JobState> s = ParseJobState(*state);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("state: ", s.status().message()));
    }
    f.state = *s;
  }
  f.error_contains = Param(req, "error").value_or("");
  return f;
}

std::string Plural(int64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// The limit a set request describes, in the parameters of `qg limits set`:
// name (required); queue (absent: every queue; empty: the default queue);
// type (absent or empty: every type); key_by (none, job, args; key_args
// alone means args); key_args (comma-separated); concurrency; per_pool
// (true/false); rate; period (seconds, or a duration such as "1m", with
// rate); burst (with rate). An empty number is an absent one. Checked by
// `ValidateLimit()`.
absl::StatusOr<Limit> ParseLimit(const httplib::Request& req) {
  Limit l;
  std::optional<std::string> name = Param(req, "name");
  if (!name.has_value()) return absl::InvalidArgumentError("name is required");
  l.name = *name;
  l.queue = Param(req, "queue");
  l.type = Param(req, "type");
  if (l.type.has_value() && l.type->empty()) l.type.reset();
  auto number =
      [&](const std::string& field) -> absl::StatusOr<std::optional<int>> {
    std::optional<std::string> text = Param(req, field);
    if (!text.has_value() || text->empty()) return std::optional<int>();
    int v = 0;
    if (!absl::SimpleAtoi(*text, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " must be a whole number, not \"", *text, "\""));
    }
    return std::optional<int>(v);
  };
  std::optional<std::string> key_by = Param(req, "key_by");
  if (key_by.has_value() && key_by->empty()) key_by.reset();
  if (std::optional<std::string> fields = Param(req, "key_args");
      fields.has_value() && !fields->empty()) {
    if (key_by.has_value() && *key_by != "args") {
      return absl::InvalidArgumentError("key_args goes with key_by=args");
    }
    key_by = "args";
    l.key_args = absl::StrSplit(*fields, ',');
  }
  if (key_by.has_value()) {
    std::optional<Limit::KeyBy> k = ParseKeyBy(*key_by);
    if (!k.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key_by must be none, job or args, not \"", *key_by, "\""));
    }
    l.key_by = *k;
  }
  absl::StatusOr<std::optional<int>> concurrency = number("concurrency");
  if (!concurrency.ok()) return concurrency.status();
  l.concurrency = *concurrency;
  if (std::optional<std::string> p = Param(req, "per_pool"); p.has_value()) {
    if (*p == "true" || *p == "1" || *p == "on") {
      l.per_pool = true;
    } else if (!(p->empty() || *p == "false" || *p == "0" || *p == "off")) {
      return absl::InvalidArgumentError(
          absl::StrCat("per_pool must be true or false, not \"", *p, "\""));
    }
  }
  absl::StatusOr<std::optional<int>> rate = number("rate");
  if (!rate.ok()) return rate.status();
  l.rate = *rate;
  std::optional<std::string> period = Param(req, "period");
  if (period.has_value() && period->empty()) period.reset();
  absl::StatusOr<std::optional<int>> burst = number("burst");
  if (!burst.ok()) return burst.status();
  if ((period.has_value() || burst->has_value()) && !l.rate.has_value()) {
    return absl::InvalidArgumentError("period and burst go with rate");
  }
  if (period.has_value()) {
    double seconds = 0;
    if (absl::SimpleAtod(*period, &seconds)) {
      if (!(seconds >= 0.001 && seconds <= 366.0 * 24 * 3600)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "period must be 1ms to 366 days, not \"", *period, "\""));
      }
      l.rate_period = absl::Seconds(seconds);
    } else if (!absl::ParseDuration(*period, &l.rate_period)) {
      return absl::InvalidArgumentError(
          absl::StrCat("period must be seconds or a duration such as 1m or "
                       "500ms, not \"",
                       *period, "\""));
    }
  }
  if (burst->has_value()) l.rate_burst = **burst;
  if (absl::Status s = ValidateLimit(l); !s.ok()) return s;
  return l;
}

}  // namespace

class Console::Impl {
 public:
  explicit Impl(ConsoleOptions options) : options_(std::move(options)) {}

  absl::Status Init() {
    if (absl::Status s = CheckOptions(); !s.ok()) return s;
    absl::StatusOr<ListenAddress> address = ParseListenAddress(options_.listen);
    if (!address.ok()) return address.status();
    auth_ = std::make_unique<console::ConsoleAuth>(
        console::AuthOptions{.listening = *address,
                             .bearer_token = options_.bearer_token,
                             .read_only = options_.read_only});
    absl::StatusOr<std::unique_ptr<Admin>> admin = Admin::Connect(
        {.conninfo = options_.conninfo, .max_conns = options_.max_conns});
    if (!admin.ok()) return admin.status();
    admin_ = std::move(*admin);
    actions_ = WithLibraryActions(options_.actions, admin_.get());
    reads_ = internal::ConnPool::Create(options_.conninfo, 2, nullptr);
    cache_ = std::make_unique<console::SnapshotCache>(
        reads_, console::SnapshotOptions{
                    .max_age = options_.refresh,
                    .throughput_minutes = options_.throughput_minutes});
    ConfigureServer();
    PageRoutes();
    ReadRoutes();
    ActionRoutes();
    // /metrics on a thread of its own: scrapes are answered while slow
    // reads (a filtered job list, a struggling database) hold the others.
    absl::StatusOr<std::unique_ptr<HttpListener>> listener =
        HttpListener::Start(&server_, *address,
                            {.threads = options_.threads,
                             .reserved_paths = {"/metrics"},
                             .max_body_bytes = 64 * 1024});
    if (!listener.ok()) return listener.status();
    listener_ = std::move(*listener);
    return absl::OkStatus();
  }

  void Stop() {
    if (listener_ != nullptr) listener_->Stop();
    if (reads_ != nullptr) reads_->Close();
  }

  std::string url() const {
    ListenAddress a = listener_->address();
    if (a.host == "0.0.0.0") a.host = "127.0.0.1";
    if (a.host == "::") a.host = "::1";
    return absl::StrCat("http://", a.ToString(), "/");
  }
  int port() const { return listener_->address().port; }
  const std::string& csrf() const { return auth_->csrf_token(); }

 private:
  absl::Status CheckOptions() const {
    if (options_.throughput_minutes < 1 || options_.throughput_minutes > 1440) {
      return absl::InvalidArgumentError(
          "ConsoleOptions::throughput_minutes must be 1..1440");
    }
    if (options_.max_conns < 1 || options_.threads < 1) {
      return absl::InvalidArgumentError(
          "ConsoleOptions::max_conns and threads must be at least 1");
    }
    if (options_.refresh < absl::ZeroDuration() ||
        options_.cancel_wait < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          "ConsoleOptions::refresh and cancel_wait must not be negative");
    }
    return absl::OkStatus();
  }

  // `given`, its unset hooks filled with the library's (`admin`'s) cancel,
  // pause, resume and limit set and remove.
  static ConsoleActions WithLibraryActions(ConsoleActions given, Admin* a) {
    if (given.cancel_job == nullptr) {
      given.cancel_job = [a](int64_t id) { return a->CancelJob(id); };
    }
    if (given.pause_queue == nullptr) {
      given.pause_queue = [a](const std::string& q) {
        return a->PauseQueue(q);
      };
    }
    if (given.resume_queue == nullptr) {
      given.resume_queue = [a](const std::string& q) {
        return a->ResumeQueue(q);
      };
    }
    if (given.set_limit == nullptr) {
      given.set_limit = [a](const Limit& l) { return a->SetLimit(l); };
    }
    if (given.remove_limit == nullptr) {
      given.remove_limit = [a](const std::string& name) {
        return a->RemoveLimit(name);
      };
    }
    return given;
  }

  // --- Before routing: who may ask (qg/console/auth.h). -------------------

  void SendRefusal(httplib::Response& res, const console::Refusal& r) {
    if (r.www_authenticate) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"qg console\"");
    }
    if (r.sign_in_page) return SendLogin(res, r.message);
    SendError(res, r.status, r.message);
  }

  void SendLogin(httplib::Response& res, absl::string_view message) {
    const console::WebAsset* page = console::FindWebAsset("login.html");
    res.status = 401;
    // `message` is one of ConsoleAuth's constants, never request data.
    res.set_content(
        absl::StrReplaceAll(page->content, {{"{{MESSAGE}}", message}}),
        page->content_type);
  }

  // Runs `action` when the request may act (ConsoleAuth::MayAct);
  // otherwise sends the refusal.
  httplib::Server::Handler Action(void (Impl::*action)(const httplib::Request&,
                                                       httplib::Response&)) {
    return [this, action](const httplib::Request& req, httplib::Response& res) {
      if (std::optional<console::Refusal> no = auth_->MayAct(req)) {
        return SendRefusal(res, *no);
      }
      (this->*action)(req, res);
    };
  }

  // --- Routes. ------------------------------------------------------------

  // Headers of every answer, the access checks before routing, and errors.
  void ConfigureServer() {
    server_.set_default_headers({
        {"Content-Security-Policy",
         "default-src 'none'; script-src 'self'; style-src 'self'; "
         "img-src 'self'; connect-src 'self'; form-action 'self'; "
         "frame-ancestors 'none'; base-uri 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
        {"Cache-Control", "no-store"},
    });
    server_.set_pre_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) {
          std::optional<console::Refusal> no = auth_->Check(req);
          if (!no.has_value())
            return httplib::Server::HandlerResponse::Unhandled;
          SendRefusal(res, *no);
          return httplib::Server::HandlerResponse::Handled;
        });
    server_.set_error_handler([](const httplib::Request& req,
                                 httplib::Response& res) {
      if (!res.body.empty()) return;
      SendError(res, res.status,
                res.status == 404
                    ? absl::StrCat("no such page: ", req.method, " ", req.path)
                    : absl::StrCat("HTTP ", res.status));
    });
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res,
           std::exception_ptr) { SendError(res, 500, "internal error"); });
  }

  // The page, its script and style sheet, and the sign-in.
  void PageRoutes() {
    server_.Get("/", [this](const httplib::Request&, httplib::Response& res) {
      const console::WebAsset* page = console::FindWebAsset("index.html");
      res.set_content(
          absl::StrReplaceAll(page->content, {{"{{CSRF_TOKEN}}", csrf()}}),
          page->content_type);
    });
    server_.Get(R"(/static/([a-z]+\.(js|css)))", [](const httplib::Request& req,
                                                    httplib::Response& res) {
      const console::WebAsset* a = console::FindWebAsset(req.matches[1].str());
      if (a == nullptr) return SendError(res, 404, "no such file");
      res.set_content(a->content, a->content_type);
    });
    server_.Post(
        "/login", [this](const httplib::Request& req, httplib::Response& res) {
          std::optional<std::string> cookie;
          if (auth_->token_required()) {
            cookie = auth_->SignIn(req.get_param_value("token"));
            if (!cookie.has_value()) {
              return SendLogin(res, "That token is not the console's.");
            }
            res.set_header("Set-Cookie", *cookie);
          }
          res.status = 303;
          res.set_header("Location", "/");
        });
  }

  // GET /metrics and the JSON API's reads.
  void ReadRoutes() {
    auto plain = [this](void (Impl::*read)(httplib::Response&)) {
      return [this, read](const httplib::Request&, httplib::Response& res) {
        (this->*read)(res);
      };
    };
    auto with_request = [this](void (Impl::*read)(const httplib::Request&,
                                                  httplib::Response&)) {
      return [this, read](const httplib::Request& req, httplib::Response& res) {
        (this->*read)(req, res);
      };
    };
    server_.Get("/metrics", plain(&Impl::Metrics));
    server_.Get("/api/v1/config", plain(&Impl::Config));
    server_.Get("/api/v1/overview", plain(&Impl::Overview));
    server_.Get("/api/v1/stats", plain(&Impl::Stats));
    server_.Get("/api/v1/throughput", with_request(&Impl::Throughput));
    server_.Get("/api/v1/jobs", with_request(&Impl::ListJobs));
    server_.Get(R"(/api/v1/jobs/([^/]+))", with_request(&Impl::GetJob));
    server_.Get(R"(/api/v1/jobs/([^/]+)/workflow)",
                with_request(&Impl::GetWorkflow));
    server_.Get("/api/v1/limits", plain(&Impl::Limits));
    server_.Get("/api/v1/history", with_request(&Impl::ListHistory));
    server_.Get("/api/v1/batches", with_request(&Impl::ListBatches));
    server_.Get(R"(/api/v1/batches/([^/]+))", with_request(&Impl::GetBatch));
  }

  // The JSON API's actions: POST only, each checked by MayAct.
  void ActionRoutes() {
    server_.Post("/api/v1/jobs/retry", Action(&Impl::RetryAll));
    server_.Post(R"(/api/v1/jobs/([^/]+)/(retry|delete|cancel))",
                 Action(&Impl::JobAction));
    server_.Post(R"(/api/v1/queues/(pause|resume))",
                 Action(&Impl::QueueAction));
    server_.Post(R"(/api/v1/limits/(set|remove))", Action(&Impl::LimitAction));
    auto use_post = [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", "POST");
      SendError(res, 405, "actions are POST requests");
    };
    server_.Get(R"(/api/v1/jobs/([^/]+)/(retry|delete|cancel))", use_post);
    server_.Get(R"(/api/v1/queues/(pause|resume))", use_post);
    server_.Get(R"(/api/v1/limits/(set|remove))", use_post);
  }

  // --- Reads. -------------------------------------------------------------

  static JsonObject GroupJson(const GroupCounts& g, const Snapshot& s) {
    JobStats stats;
    stats.queue = g.queue;
    stats.type = g.type;
    stats.count = g.count;
    stats.count_working = g.working;
    stats.count_errored = g.errored;
    stats.highest_error_count = g.highest_error_count;
    stats.count_dead = g.dead;
    stats.oldest_run_at = g.oldest_run_at;
    auto p = s.paused.find(g.queue);
    JsonObject j = StatsJson(stats, p != s.paused.end() && p->second);
    j.Int("ready", g.ready).Int("scheduled", g.scheduled);
    j.OptionalTime("oldest_ready_run_at", g.oldest_ready_run_at);
    j.Double("oldest_ready_age_seconds",
             absl::ToDoubleSeconds(g.oldest_ready_age));
    return j;
  }

  static std::string ThroughputJson(bool available,
                                    const std::vector<MinuteCounts>& minutes) {
    std::vector<JsonObject> items;
    items.reserve(minutes.size());
    for (const MinuteCounts& m : minutes) {
      JsonObject j;
      j.Time("minute", m.minute)
          .Int("completed", m.completed)
          .Int("failed", m.retried + m.dead)
          .Int("retried", m.retried)
          .Int("dead", m.dead)
          .Int("snoozed", m.snoozed)
          .Int("cancelled", m.cancelled);
      items.push_back(std::move(j));
    }
    JsonObject o;
    o.Bool("available", available).Raw("minutes", JsonArray(items));
    return o.text();
  }

  absl::StatusOr<std::shared_ptr<const Snapshot>> Snap() {
    return cache_->Get();
  }

  void Config(httplib::Response& res) {
    // A standby (after a failover, the old primary) takes no changes: say
    // so, and offer none.
    absl::StatusOr<std::string> server_read_only = admin_->ReadOnlyReason();
    const std::string standby =
        server_read_only.ok() ? *server_read_only : std::string();
    bool act = !options_.read_only && standby.empty();
    JsonObject actions;
    actions.Bool("retry", act)
        .Bool("delete", act)
        .Bool("retry_all", act)
        .Bool("cancel", act && actions_.cancel_job != nullptr)
        .Bool("pause", act && actions_.pause_queue != nullptr)
        .Bool("resume", act && actions_.resume_queue != nullptr)
        .Bool("set_limit", act && actions_.set_limit != nullptr)
        .Bool("remove_limit", act && actions_.remove_limit != nullptr);
    JsonObject why;
    if (options_.read_only) {
      why.String("all", "this console is read-only (--read-only)");
    } else if (!standby.empty()) {
      why.String("all", standby);
    }
    if (actions_.cancel_job == nullptr) {
      why.String("cancel", kNoCancel);
    }
    if (actions_.pause_queue == nullptr) {
      why.String("pause", kNoPause);
    }
    if (actions_.resume_queue == nullptr) {
      why.String("resume", kNoResume);
    }
    if (actions_.set_limit == nullptr) {
      why.String("set_limit", kNoSetLimit);
    }
    if (actions_.remove_limit == nullptr) {
      why.String("remove_limit", kNoRemoveLimit);
    }
    JsonObject o;
    o.Bool("read_only", options_.read_only || !standby.empty())
        .String("read_only_reason",
                options_.read_only ? "this console is read-only (--read-only)"
                                   : standby)
        .String("database", RedactConninfo(options_.conninfo))
        .Double("refresh_seconds", absl::ToDoubleSeconds(options_.refresh))
        .Int("throughput_minutes", options_.throughput_minutes)
        .Raw("actions", actions.text())
        .Raw("unavailable", why.text());
    SendJson(res, 200, o.text());
  }

  void Overview(httplib::Response& res) {
    absl::StatusOr<std::shared_ptr<const Snapshot>> snap = Snap();
    if (!snap.ok()) return SendStatus(res, snap.status());
    const Snapshot& s = **snap;
    std::vector<JsonObject> groups;
    std::map<std::string, std::pair<int64_t, int64_t>> queues;  // ready, all
    for (const GroupCounts& g : s.groups) {
      groups.push_back(GroupJson(g, s));
      auto& q = queues[g.queue];
      q.first += g.ready;
      q.second += g.count;
    }
    for (const auto& [queue, paused] : s.paused) queues[queue];
    std::vector<JsonObject> queue_items;
    for (const auto& [queue, counts] : queues) {
      auto p = s.paused.find(queue);
      JsonObject q;
      q.String("queue", queue)
          .Bool("paused", p != s.paused.end() && p->second)
          .Int("ready", counts.first)
          .Int("count", counts.second);
      queue_items.push_back(std::move(q));
    }
    JsonObject o;
    o.Time("generated_at", s.taken)
        .Time("db_now", s.db_now)
        .Double("age_seconds", absl::ToDoubleSeconds(absl::Now() - s.taken))
        .Double("refresh_seconds", absl::ToDoubleSeconds(options_.refresh))
        .Bool("pause_state_available", s.has_queue_table)
        .Raw("queues", JsonArray(queue_items))
        .Raw("groups", JsonArray(groups))
        .Raw("throughput", ThroughputJson(s.has_counts, s.throughput));
    SendJson(res, 200, o.text());
  }

  // Every limit with its use, from the snapshot (read at most once per
  // refresh; a change through the console reads it again).
  void Limits(httplib::Response& res) {
    absl::StatusOr<std::shared_ptr<const Snapshot>> snap = Snap();
    if (!snap.ok()) return SendStatus(res, snap.status());
    const Snapshot& s = **snap;
    if (!s.limits_status.ok()) return SendStatus(res, s.limits_status);
    std::vector<JsonObject> items;
    items.reserve(s.limits.size());
    for (const LimitInfo& i : s.limits) items.push_back(LimitJson(i));
    JsonObject o;
    o.Time("generated_at", s.taken)
        .Double("refresh_seconds", absl::ToDoubleSeconds(options_.refresh))
        .Bool("available", s.has_limits);
    if (!s.has_limits) {
      o.String("unavailable_reason",
               "the qg_limits table is missing: run qg migrate to use flow "
               "control");
    }
    o.Int("waiting_max_scan", console::kLimitMaxScan)
        .Raw("limits", JsonArray(items));
    SendJson(res, 200, o.text());
  }

  void Stats(httplib::Response& res) {
    absl::StatusOr<std::shared_ptr<const Snapshot>> snap = Snap();
    if (!snap.ok()) return SendStatus(res, snap.status());
    std::vector<JsonObject> items;
    for (const GroupCounts& g : (*snap)->groups) {
      JobStats stats;
      stats.queue = g.queue;
      stats.type = g.type;
      stats.count = g.count;
      stats.count_working = g.working;
      stats.count_errored = g.errored;
      stats.highest_error_count = g.highest_error_count;
      stats.count_dead = g.dead;
      stats.oldest_run_at = g.oldest_run_at;
      auto p = (*snap)->paused.find(g.queue);
      items.push_back(
          StatsJson(stats, p != (*snap)->paused.end() && p->second));
    }
    SendJson(res, 200, JsonArray(items));
  }

  void Throughput(const httplib::Request& req, httplib::Response& res) {
    if (absl::Status s = OnlyParams(req, {"minutes", "queue", "type"});
        !s.ok()) {
      return SendStatus(res, s);
    }
    int minutes = options_.throughput_minutes;
    if (std::optional<std::string> m = Param(req, "minutes"); m.has_value()) {
      if (!absl::SimpleAtoi(*m, &minutes) || minutes < 1 || minutes > 1440) {
        return SendError(res, 400, "minutes must be 1..1440");
      }
    }
    std::optional<std::string> queue = Param(req, "queue");
    std::optional<std::string> type = Param(req, "type");
    if (!queue.has_value() && !type.has_value() &&
        minutes == options_.throughput_minutes) {
      absl::StatusOr<std::shared_ptr<const Snapshot>> snap = Snap();
      if (!snap.ok()) return SendStatus(res, snap.status());
      return SendJson(res, 200,
                      ThroughputJson((*snap)->has_counts, (*snap)->throughput));
    }
    absl::StatusOr<internal::PooledConn> conn =
        reads_->Acquire(absl::Seconds(10));
    if (!conn.ok()) return SendStatus(res, conn.status());
    absl::StatusOr<std::vector<MinuteCounts>> rows =
        console::ReadThroughput(conn->get(), minutes, queue, type);
    if (!rows.ok()) return SendStatus(res, rows.status());
    SendJson(res, 200, ThroughputJson(true, *rows));
  }

  void ListJobs(const httplib::Request& req, httplib::Response& res) {
    if (absl::Status s = OnlyParams(
            req, {"queue", "type", "state", "error", "limit", "after"});
        !s.ok()) {
      return SendStatus(res, s);
    }
    absl::StatusOr<JobFilter> filter = ParseFilter(req);
    if (!filter.ok()) return SendStatus(res, filter.status());
    PageRequest page;
    if (std::optional<std::string> l = Param(req, "limit"); l.has_value()) {
      if (!absl::SimpleAtoi(*l, &page.limit) || page.limit < 1 ||
          page.limit > kMaxPageLimit) {
        return SendError(res, 400,
                         absl::StrCat("limit must be 1..", kMaxPageLimit));
      }
    }
    if (std::optional<std::string> a = Param(req, "after");
        a.has_value() && !a->empty()) {
      absl::StatusOr<JobCursor> c = JobCursor::Decode(*a);
      if (!c.ok()) {
        return SendError(res, 400,
                         absl::StrCat("after: ", c.status().message()));
      }
      page.after = *c;
    }
    page.max_scan = kOperatorMaxScan;
    absl::StatusOr<JobPage> p = admin_->ListJobs(*filter, page);
    if (!p.ok()) return SendStatus(res, p.status());
    std::vector<JsonObject> items;
    for (const JobRecord& job : p->jobs) {
      items.push_back(JobListJson(job, absl::Now()));
    }
    JsonObject o;
    o.Raw("jobs", JsonArray(items));
    if (p->next.has_value()) {
      o.String("next", p->next->Encode());
    } else {
      o.Null("next");
    }
    o.Bool("partial", p->scan_limited);
    if (p->scan_limited) o.Int("searched", page.max_scan);
    SendJson(res, 200, o.text());
  }

  void GetJob(const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<int64_t> id = ParseJobId(req.matches[1].str());
    if (!id.ok()) return SendStatus(res, id.status());
    absl::StatusOr<JobLookup> found = admin_->LookUpJob(*id);
    if (!found.ok()) return SendStatus(res, found.status());
    if (found->phase == JobPhase::kFinished) {
      return SendJson(res, 200, FinishedJobJson(*found->finished).text());
    }
    if (!found->job.has_value()) {
      return SendStatus(
          res, absl::NotFoundError(absl::StrCat("no job with ID ", *id)));
    }
    SendJson(res, 200, JobDetailJson(*found->job, absl::Now()).text());
  }

  // Batches newest first (open=1: those not finished only; limit).
  void ListBatches(const httplib::Request& req, httplib::Response& res) {
    if (absl::Status s = OnlyParams(req, {"open", "limit"}); !s.ok()) {
      return SendStatus(res, s);
    }
    int limit = 100;
    if (std::optional<std::string> l = Param(req, "limit"); l.has_value()) {
      if (!absl::SimpleAtoi(*l, &limit) || limit < 1 || limit > 1000) {
        return SendStatus(res, absl::InvalidArgumentError(
                                   "limit must be an integer 1..1000"));
      }
    }
    const bool open = Param(req, "open").value_or("") == "1";
    absl::StatusOr<std::vector<BatchInfo>> batches =
        admin_->ListBatches(open, limit);
    if (!batches.ok()) return SendStatus(res, batches.status());
    std::vector<JsonObject> items;
    for (const BatchInfo& b : *batches) items.push_back(BatchJson(b));
    JsonObject o;
    o.Raw("batches", JsonArray(items));
    SendJson(res, 200, o.text());
  }

  void GetBatch(const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<int64_t> id = ParseJobId(req.matches[1].str());
    if (!id.ok()) return SendStatus(res, id.status());
    absl::StatusOr<BatchInfo> b = admin_->GetBatch(*id);
    if (!b.ok()) return SendStatus(res, b.status());
    SendJson(res, 200, BatchJson(*b).text());
  }

  // The workflow around a job: its linked jobs' states and the edges.
  void GetWorkflow(const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<int64_t> id = ParseJobId(req.matches[1].str());
    if (!id.ok()) return SendStatus(res, id.status());
    absl::StatusOr<WorkflowGraph> graph = admin_->GetWorkflow(*id, 200);
    if (!graph.ok()) return SendStatus(res, graph.status());
    SendJson(res, 200, WorkflowJson(*graph).text());
  }

  // Job history: records newest first, filtered (queue, type, outcome,
  // since/until as RFC 3339 times), keyset-paged (`after`).
  void ListHistory(const httplib::Request& req, httplib::Response& res) {
    if (absl::Status s = OnlyParams(req, {"queue", "type", "outcome", "since",
                                          "until", "limit", "after"});
        !s.ok()) {
      return SendStatus(res, s);
    }
    HistoryFilter filter;
    filter.queue = Param(req, "queue");
    if (std::optional<std::string> t = Param(req, "type");
        t.has_value() && !t->empty()) {
      filter.type = *t;
    }
    if (std::optional<std::string> o = Param(req, "outcome");
        o.has_value() && !o->empty()) {
      absl::StatusOr<JobOutcome> outcome = ParseJobOutcome(*o);
      if (!outcome.ok()) return SendStatus(res, outcome.status());
      filter.outcome = *outcome;
    }
    for (auto [name, into] : {std::pair{"since", &filter.finished_from},
                              std::pair{"until", &filter.finished_before}}) {
      std::optional<std::string> v = Param(req, name);
      if (!v.has_value() || v->empty()) continue;
      absl::Time t;
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, *v, &t, &err)) {
        return SendError(res, 400,
                         absl::StrCat(name, ": not an RFC 3339 time: ", err));
      }
      *into = t;
    }
    int limit = 50;
    if (std::optional<std::string> l = Param(req, "limit"); l.has_value()) {
      if (!absl::SimpleAtoi(*l, &limit) || limit < 1 || limit > kMaxPageLimit) {
        return SendError(res, 400,
                         absl::StrCat("limit must be 1..", kMaxPageLimit));
      }
    }
    std::optional<HistoryCursor> after;
    if (std::optional<std::string> a = Param(req, "after");
        a.has_value() && !a->empty()) {
      absl::StatusOr<HistoryCursor> c = HistoryCursor::Decode(*a);
      if (!c.ok()) {
        return SendError(res, 400,
                         absl::StrCat("after: ", c.status().message()));
      }
      after = *c;
    }
    absl::StatusOr<HistoryPage> p = admin_->ListHistory(filter, limit, after);
    if (!p.ok()) return SendStatus(res, p.status());
    std::vector<JsonObject> items;
    for (const FinishedJob& f : p->jobs) {
      items.push_back(FinishedJobJson(f, /*full=*/false));
    }
    JsonObject o;
    o.Raw("records", JsonArray(items));
    if (p->next.has_value()) {
      o.String("next", p->next->Encode());
    } else {
      o.Null("next");
    }
    SendJson(res, 200, o.text());
  }

  // --- Actions. -----------------------------------------------------------

  static void SendOutcome(httplib::Response& res, absl::string_view message,
                          JsonObject o = {}) {
    o.Bool("ok", true).String("message", message);
    SendJson(res, 200, o.text());
  }

  void JobAction(const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<int64_t> id = ParseJobId(req.matches[1].str());
    if (!id.ok()) return SendStatus(res, id.status());
    std::string verb = req.matches[2].str();
    if (verb == "cancel") return Cancel(*id, res);
    absl::Status s;
    std::string done;
    if (verb == "retry") {
      s = admin_->RetryJob(*id);
      done = absl::StrCat("job ", *id, " will run now");
    } else {
      s = admin_->DeleteJob(*id);
      done = absl::StrCat("job ", *id, " deleted");
    }
    if (!s.ok()) return SendStatus(res, s);
    cache_->Invalidate();
    SendOutcome(res, done);
  }

  // What a cancel did, as the answer's "outcome" and "message" say it.
  struct CancelReport {
    const char* outcome;  // "cancelled", "finished" or "requested"
    std::string message;
  };

  void Cancel(int64_t id, httplib::Response& res) {
    if (actions_.cancel_job == nullptr) return SendError(res, 501, kNoCancel);
    absl::StatusOr<CancelOutcome> outcome = actions_.cancel_job(id);
    if (!outcome.ok()) return SendStatus(res, outcome.status());
    cache_->Invalidate();
    CancelReport r;
    if (*outcome == CancelOutcome::kCancelled) {
      r = {"cancelled",
           absl::StrCat("job ", id,
                        " cancelled: nobody was running it; it is kept as a "
                        "dead job marked \"",
                        kCancelledMarker, "\" (retry revives it)")};
    } else {
      r = FollowStop(id);
    }
    JsonObject o;
    o.String("outcome", r.outcome);
    SendOutcome(res, r.message, std::move(o));
  }

  // A running job's worker took the cancel request: waits up to
  // `cancel_wait` for its handler to end (the job's lock released: pg_locks
  // only), then reads how it ended.
  CancelReport FollowStop(int64_t id) {
    absl::Time deadline = absl::Now() + options_.cancel_wait;
    absl::StatusOr<bool> held = admin_->JobHeld(id);
    while (held.ok() && *held && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
      held = admin_->JobHeld(id);
    }
    CancelReport requested{
        "requested",
        absl::StrCat("asked the worker running job ", id,
                     " to stop it: it is still running; it is recorded as "
                     "cancelled when its handler stops with an error (a "
                     "handler that completes anyway completes it)")};
    if (!held.ok() || *held) return requested;
    absl::StatusOr<JobRecord> job = admin_->GetJob(id);
    if (absl::IsNotFound(job.status())) {
      return {"finished",
              absl::StrCat("job ", id,
                           " finished first: its handler completed it before "
                           "it stopped, so it was not cancelled")};
    }
    if (!job.ok() || job->working()) return requested;
    if (job->cancelled()) {
      return {"cancelled",
              absl::StrCat("job ", id,
                           " cancelled: its worker stopped it; it is kept as "
                           "a dead job marked \"",
                           kCancelledMarker, "\" (retry revives it)")};
    }
    return {"finished",
            absl::StrCat("job ", id,
                         " finished first: its handler ended it before it "
                         "stopped (it is ",
                         JobStateName(*job, absl::Now()),
                         " now), so it was not cancelled")};
  }

  void RetryAll(const httplib::Request& req, httplib::Response& res) {
    if (absl::Status s = OnlyParams(req, {"queue", "type", "state"}); !s.ok()) {
      return SendStatus(res, s);
    }
    absl::StatusOr<JobFilter> filter = ParseFilter(req);
    if (!filter.ok()) return SendStatus(res, filter.status());
    if (filter->state != JobState::kErrored &&
        filter->state != JobState::kDead) {
      return SendError(res, 400,
                       "state must be errored or dead: retry all errored or "
                       "all dead jobs (of a queue and/or type)");
    }
    absl::StatusOr<BulkResult> r = admin_->RetryJobs(*filter);
    if (!r.ok()) return SendStatus(res, r.status());
    cache_->Invalidate();
    std::string message =
        absl::StrCat(Plural(r->changed, "job", "jobs"), " will run now");
    if (r->skipped_held > 0) {
      absl::StrAppend(&message, "; ", r->skipped_held,
                      " skipped: held by a worker right now");
    }
    if (r->skipped_moved > 0) {
      absl::StrAppend(&message, "; ", r->skipped_moved,
                      " skipped: finished or rescheduled meanwhile");
    }
    SendOutcome(res, message, BulkResultJson(*r));
  }

  void QueueAction(const httplib::Request& req, httplib::Response& res) {
    if (absl::Status s = OnlyParams(req, {"queue"}); !s.ok()) {
      return SendStatus(res, s);
    }
    std::optional<std::string> queue = Param(req, "queue");
    if (!queue.has_value()) {
      return SendError(res, 400,
                       "queue is required (an empty value is the default "
                       "queue)");
    }
    bool pause = req.matches[1].str() == "pause";
    const auto& hook = pause ? actions_.pause_queue : actions_.resume_queue;
    if (hook == nullptr) {
      return SendError(res, 501, pause ? kNoPause : kNoResume);
    }
    if (absl::Status s = hook(*queue); !s.ok()) return SendStatus(res, s);
    cache_->Invalidate();
    SendOutcome(res,
                absl::StrCat("queue ", queue->empty() ? "(default)" : *queue,
                             pause ? " paused" : " resumed"));
  }

  void LimitAction(const httplib::Request& req, httplib::Response& res) {
    bool set = req.matches[1].str() == "set";
    if (!set) {
      if (absl::Status s = OnlyParams(req, {"name"}); !s.ok()) {
        return SendStatus(res, s);
      }
      std::optional<std::string> name = Param(req, "name");
      if (!name.has_value()) return SendError(res, 400, "name is required");
      if (actions_.remove_limit == nullptr) {
        return SendError(res, 501, kNoRemoveLimit);
      }
      absl::StatusOr<bool> removed = actions_.remove_limit(*name);
      if (!removed.ok()) return SendStatus(res, removed.status());
      if (!*removed) {
        return SendError(res, 404,
                         absl::StrCat("no limit named \"", *name, "\""));
      }
      cache_->Invalidate();
      return SendOutcome(res, absl::StrCat("limit ", *name, " removed"));
    }
    if (absl::Status s = OnlyParams(
            req, {"name", "queue", "type", "key_by", "key_args", "concurrency",
                  "per_pool", "rate", "period", "burst"});
        !s.ok()) {
      return SendStatus(res, s);
    }
    absl::StatusOr<Limit> limit = ParseLimit(req);
    if (!limit.ok()) return SendStatus(res, limit.status());
    if (actions_.set_limit == nullptr) return SendError(res, 501, kNoSetLimit);
    if (absl::Status s = actions_.set_limit(*limit); !s.ok()) {
      return SendStatus(res, s);
    }
    cache_->Invalidate();
    SendOutcome(res, absl::StrCat("limit ", limit->name,
                                  " set: qg-cpp worker pools apply it from "
                                  "their next lock scan"));
  }

  // --- /metrics. ----------------------------------------------------------

  void Metrics(httplib::Response& res) {
    absl::StatusOr<std::shared_ptr<const Snapshot>> snap = Snap();
    if (!snap.ok()) {
      res.status = 503;
      res.set_content(absl::StrCat("# snapshot failed: ",
                                   absl::StrReplaceAll(snap.status().message(),
                                                       {{"\n", " "}}),
                                   "\n"),
                      prometheus::kContentType);
      return;
    }
    const Snapshot& s = **snap;
    prometheus::TextWriter w;
    w.Family("qg_queue_jobs",
             "Jobs in que_jobs by queue, type and state (ready: due and not "
             "held; scheduled: due later; working: held by a worker; errored: "
             "failed at least once, dead included; dead: out of attempts).",
             "gauge");
    for (const GroupCounts& g : s.groups) {
      for (auto [state, n] :
           {std::pair{"ready", g.ready}, std::pair{"scheduled", g.scheduled},
            std::pair{"working", g.working}, std::pair{"errored", g.errored},
            std::pair{"dead", g.dead}}) {
        w.Sample("qg_queue_jobs",
                 {{"queue", g.queue}, {"type", g.type}, {"state", state}},
                 static_cast<double>(n));
      }
    }
    w.Family("qg_queue_oldest_ready_age_seconds",
             "How long the oldest ready job has been due (0: none ready).",
             "gauge");
    for (const GroupCounts& g : s.groups) {
      w.Sample("qg_queue_oldest_ready_age_seconds",
               {{"queue", g.queue}, {"type", g.type}},
               absl::ToDoubleSeconds(g.oldest_ready_age));
    }
    if (s.has_queue_table) {
      w.Family("qg_queue_paused", "1 while the queue is paused (qg_queues).",
               "gauge");
      for (const auto& [queue, paused] : s.paused) {
        w.Sample("qg_queue_paused", {{"queue", queue}}, paused ? 1 : 0);
      }
    }
    if (s.has_limits && s.limits_status.ok()) {
      WriteLimitMetrics(w, s.limits);
    }
    // Open batches (the newest 100), read at each scrape along their
    // partial index; none without the batches schema.
    if (absl::StatusOr<std::vector<BatchInfo>> open =
            admin_->ListBatches(/*open_only=*/true, 100);
        open.ok()) {
      w.Family("qg_batch_jobs",
               "Jobs of each open batch (the newest 100) by state: total "
               "(added), completed, dead, cancelled, waiting (waiting or "
               "running).",
               "gauge");
      for (const BatchInfo& b : *open) {
        for (auto [state, n] :
             {std::pair{"total", b.total}, std::pair{"completed", b.completed},
              std::pair{"dead", b.dead}, std::pair{"cancelled", b.cancelled},
              std::pair{"waiting", b.waiting()}}) {
          w.Sample("qg_batch_jobs",
                   {{"batch", absl::StrCat(b.id)}, {"state", state}},
                   static_cast<double>(n));
        }
      }
    }
    w.Family("qg_console_snapshot_age_seconds",
             "Age of the snapshot these gauges come from.", "gauge");
    w.Sample("qg_console_snapshot_age_seconds", {},
             absl::ToDoubleSeconds(absl::Now() - s.taken));
    w.Family("qg_console_snapshot_duration_seconds",
             "How long reading that snapshot took.", "gauge");
    w.Sample("qg_console_snapshot_duration_seconds", {},
             absl::ToDoubleSeconds(s.took));
    w.Family("qg_console_snapshot_refreshes_total",
             "Snapshots read from the database.", "counter");
    w.Sample("qg_console_snapshot_refreshes_total", {},
             static_cast<double>(cache_->refreshes()));
    res.set_content(w.text(), prometheus::kContentType);
  }

  static constexpr char kNoCancel[] =
      "cancelling jobs is not available: this console was started without a "
      "cancel handler (qg::ConsoleActions::cancel_job)";
  static constexpr char kNoPause[] =
      "pausing queues is not available: this console was started without a "
      "pause handler (qg::ConsoleActions::pause_queue)";
  static constexpr char kNoResume[] =
      "resuming queues is not available: this console was started without a "
      "resume handler (qg::ConsoleActions::resume_queue)";
  static constexpr char kNoSetLimit[] =
      "setting limits is not available: this console was started without a "
      "set handler (qg::ConsoleActions::set_limit)";
  static constexpr char kNoRemoveLimit[] =
      "removing limits is not available: this console was started without a "
      "remove handler (qg::ConsoleActions::remove_limit)";

  const ConsoleOptions options_;
  // options_.actions, unset hooks filled with the library's (Init()).
  ConsoleActions actions_;
  std::unique_ptr<console::ConsoleAuth> auth_;
  std::unique_ptr<Admin> admin_;
  std::shared_ptr<internal::ConnPool> reads_;
  std::unique_ptr<console::SnapshotCache> cache_;
  HttpServer server_;
  std::unique_ptr<HttpListener> listener_;
};

absl::StatusOr<std::unique_ptr<Console>> Console::Start(
    ConsoleOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Console>(new Console(std::move(impl)));
}

Console::Console(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Console::~Console() { Stop(); }

std::string Console::url() const { return impl_->url(); }

int Console::port() const { return impl_->port(); }

const std::string& Console::csrf_token() const { return impl_->csrf(); }

void Console::Stop() { impl_->Stop(); }

}  // namespace qg
