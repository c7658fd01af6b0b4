#include "qg/grants.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "qg/internal/pg.h"
#include "qg/internal/utf8.h"
#include "qg/pg.h"

namespace qg {
namespace {

enum class Kind { kTable, kSequence, kFunction };

// One GRANT: `privileges` on `objects` (several only for functions, granted
// by name), on `columns` only when given; `why` is its comment. Essential:
// what `GrantCheck::kEssential` checks.
struct Grant {
  Kind kind;
  std::vector<absl::string_view> objects;
  std::vector<absl::string_view> privileges;
  std::vector<absl::string_view> columns;
  absl::string_view why;
  bool essential = false;
};

// What a handler may enqueue is what an enqueuer may: the worker's list
// has these too (and que_jobs and its sequence, on lines of its own).
const std::vector<Grant>& EnqueueGrants() {
  static const auto* grants = new std::vector<Grant>{
      {Kind::kTable,
       {"qg_batches"},
       {"INSERT"},
       {"description", "success_queue", "success_priority", "success_type",
        "success_args", "finish_queue", "finish_priority", "finish_type",
        "finish_args"},
       "CreateBatch: a batch's description and callbacks, never its counts "
       "or state"},
      {Kind::kTable,
       {"qg_batches"},
       {"SELECT"},
       {"batch_id"},
       "CreateBatch reads back the new batch's id"},
      {Kind::kSequence,
       {"qg_batches_batch_id_seq"},
       {"USAGE"},
       {},
       "a new batch's id"},
      {Kind::kFunction,
       {"qg_enqueue_child", "qg_batch_seal"},
       {"EXECUTE"},
       {},
       "workflow children (marking their parents) and sealing a batch: "
       "SECURITY DEFINER functions, so no UPDATE on que_jobs or qg_batches "
       "(jobs added to a batch are counted by a SECURITY DEFINER trigger "
       "too)"},
  };
  return *grants;
}

std::vector<Grant> EnqueuerGrants() {
  std::vector<Grant> grants = {
      {Kind::kTable,
       {"que_jobs"},
       {"SELECT", "INSERT"},
       {},
       "adds jobs (INSERT, COPY); INSERT ... RETURNING and the unique-job "
       "statements read back the row added or the one holding the key; no "
       "UPDATE or DELETE: it changes no job",
       /*essential=*/true},
      {Kind::kSequence,
       {"que_jobs_job_id_seq"},
       {"USAGE"},
       {},
       "a new job's id",
       /*essential=*/true},
  };
  for (const Grant& g : EnqueueGrants()) grants.push_back(g);
  return grants;
}

std::vector<Grant> WorkerGrants() {
  std::vector<Grant> grants = {
      {Kind::kTable,
       {"que_jobs"},
       {"SELECT", "UPDATE", "DELETE"},
       {},
       "locks, finishes (DELETE), fails and snoozes (UPDATE) the jobs it "
       "runs",
       /*essential=*/true},
      {Kind::kTable,
       {"que_jobs"},
       {"INSERT"},
       {},
       "handlers and periodic schedules enqueue"},
      {Kind::kSequence,
       {"que_jobs_job_id_seq"},
       {"USAGE"},
       {},
       "a new job's id"},
  };
  for (const Grant& g : EnqueueGrants()) grants.push_back(g);
  std::vector<Grant> more = {
      {Kind::kTable,
       {"qg_queues"},
       {"SELECT"},
       {},
       "pause state",
       /*essential=*/true},
      {Kind::kTable,
       {"qg_limits"},
       {"SELECT"},
       {},
       "concurrency and rate limits, read by every lock scan (set by the "
       "operator)",
       /*essential=*/true},
      {Kind::kTable,
       {"qg_limit_rates"},
       {"SELECT", "INSERT", "UPDATE"},
       {},
       "rate limits' tokens, taken by the lock scan"},
      {Kind::kTable,
       {"qg_cancellations"},
       {"SELECT", "UPDATE"},
       {},
       "cancel requests: the pool holding a job acknowledges one"},
      {Kind::kTable,
       {"qg_job_counts"},
       {"SELECT", "INSERT", "UPDATE", "DELETE"},
       {},
       "throughput history: counts added per minute, a week kept"},
      {Kind::kTable,
       {"qg_history_settings"},
       {"SELECT"},
       {},
       "whether a queue has job history, and its retention"},
      {Kind::kTable,
       {"qg_job_history"},
       {"SELECT", "INSERT", "UPDATE", "DELETE"},
       {},
       "job history: the statements that finish jobs write the records "
       "(the fast path needs this whether history is on or off); "
       "retention prunes them"},
      {Kind::kTable,
       {"qg_periodic"},
       {"SELECT", "INSERT", "UPDATE"},
       {},
       "periodic schedules a pool runs (WorkerOptions::periodic): one "
       "record per schedule, moved on per occurrence"},
      {Kind::kTable,
       {"qg_job_deps"},
       {"SELECT"},
       {},
       "Client::GetParents in a child's handler"},
      {Kind::kTable,
       {"qg_batches"},
       {"SELECT"},
       {},
       "Client::GetBatch in a callback's handler"},
      {Kind::kTable,
       {"qg_batch_adds"},
       {"SELECT"},
       {},
       "Client::GetBatch: jobs added to a batch not yet sealed"},
      {Kind::kFunction,
       {"qg_lock_jobs", "qg_rows_where_read", "qg_next_due", "qg_sweep",
        "qg_queue_limits", "qg_limit_admit", "qg_limit_bucket",
        "qg_limit_bucket_args", "qg_limit_lock_key", "qg_limit_hand",
        "qg_history_queues"},
       {"EXECUTE"},
       {},
       "the fast path's lock scan and sweep, limits' admission, history's "
       "queues (SECURITY INVOKER: they do what the grants above allow)"},
  };
  for (Grant& g : more) grants.push_back(std::move(g));
  return grants;
}

std::vector<Grant> OperatorGrants() {
  return {
      {Kind::kTable,
       {"que_jobs"},
       {"SELECT"},
       {},
       "lists and shows jobs",
       /*essential=*/true},
      {Kind::kTable,
       {"que_jobs"},
       {"INSERT", "UPDATE", "DELETE"},
       {},
       "retry (UPDATE; a dead job's record brought back: INSERT), cancel, "
       "delete; `qg enqueue`"},
      {Kind::kSequence,
       {"que_jobs_job_id_seq"},
       {"USAGE"},
       {},
       "`qg enqueue`: a new job's id"},
      {Kind::kTable,
       {"qg_queues"},
       {"SELECT", "INSERT", "UPDATE"},
       {},
       "pause and resume, history on or off per queue"},
      {Kind::kTable,
       {"qg_cancellations"},
       {"SELECT", "INSERT", "UPDATE", "DELETE"},
       {},
       "cancel requests for running jobs: asked, waited for, withdrawn"},
      {Kind::kTable,
       {"qg_history_settings"},
       {"SELECT", "INSERT", "UPDATE"},
       {},
       "history's default and retention"},
      {Kind::kTable,
       {"qg_job_history"},
       {"SELECT", "INSERT", "UPDATE", "DELETE"},
       {},
       "job history: read; a cancel records the job; a retry takes a "
       "record back; `qg history prune`"},
      {Kind::kTable,
       {"qg_limits"},
       {"SELECT", "INSERT", "UPDATE", "DELETE"},
       {},
       "`qg limits`: set, list, remove"},
      {Kind::kTable,
       {"qg_limit_rates"},
       {"SELECT", "DELETE"},
       {},
       "listing limits prunes stale rate state; removing one drops its "
       "state"},
      {Kind::kTable,
       {"qg_periodic"},
       {"SELECT", "DELETE"},
       {},
       "`qg periodic`: list, --remove"},
      {Kind::kTable,
       {"qg_job_counts"},
       {"SELECT"},
       {},
       "the console's throughput"},
      {Kind::kTable,
       {"qg_job_deps"},
       {"SELECT"},
       {},
       "the workflow graph around a job"},
      {Kind::kTable, {"qg_batches"}, {"SELECT"}, {}, "batches and progress"},
      {Kind::kTable,
       {"qg_batch_adds"},
       {"SELECT"},
       {},
       "jobs added to batches not yet sealed"},
      {Kind::kFunction,
       {"qg_history_queues", "qg_limit_bucket", "qg_limit_bucket_args"},
       {"EXECUTE"},
       {},
       "a cancel's history record; the jobs each limit holds"},
  };
}

const std::vector<Grant>& GrantsOf(GrantRole role) {
  static const auto* enqueuer = new std::vector<Grant>(EnqueuerGrants());
  static const auto* worker = new std::vector<Grant>(WorkerGrants());
  static const auto* op = new std::vector<Grant>(OperatorGrants());
  switch (role) {
    case GrantRole::kEnqueuer:
      return *enqueuer;
    case GrantRole::kWorker:
      return *worker;
    case GrantRole::kOperator:
      break;
  }
  return *op;
}

constexpr GrantRole kRoles[] = {GrantRole::kEnqueuer, GrantRole::kWorker,
                                GrantRole::kOperator};

absl::string_view RoleSummary(GrantRole role) {
  switch (role) {
    case GrantRole::kEnqueuer:
      return "adds jobs, plain, unique, in workflows and batches; changes "
             "and deletes none";
    case GrantRole::kWorker:
      return "runs jobs (either pool mode), and enqueues as the enqueuer "
             "does; changes no limit, pause or history setting";
    case GrantRole::kOperator:
      break;
  }
  return "operates the queue (Admin, the console, qg's commands); running "
         "jobs is the worker's";
}

absl::Status CheckRoleName(GrantRole role, const std::string& name) {
  const std::string what = absl::StrCat("the ", GrantRoleName(role), " role");
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no name"));
  }
  if (name.size() > 63) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": a role name has at most 63 bytes (PostgreSQL would cut it)"));
  }
  for (char c : name) {
    // (Names go into the SQL's comments too: a newline would end one.)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          what,
          ": a role name holds no control characters (NUL, newline, "
          "...)"));
    }
  }
  if (internal::FirstInvalidUtf8(name) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the name is not valid UTF-8"));
  }
  if (name == "public" || name == "none" || absl::StartsWith(name, "pg_")) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": \"", name,
                     "\" is reserved by PostgreSQL (\"public\", \"none\" and "
                     "names starting with \"pg_\")"));
  }
  return absl::OkStatus();
}

// `text` as an SQL string literal (standard_conforming_strings or not).
std::string QuoteLiteral(absl::string_view text) {
  std::string out;
  const bool backslash = absl::StrContains(text, '\\');
  if (backslash) out += 'E';
  out += '\'';
  for (char c : text) {
    if (c == '\'' || (backslash && c == '\\')) out += c;
    out += c;
  }
  out += '\'';
  return out;
}

// A dollar-quoting tag that `body` does not contain.
std::string DollarTag(absl::string_view body) {
  std::string tag = "$qg$";
  for (int i = 1; absl::StrContains(body, tag); ++i) {
    tag = absl::StrCat("$qg", i, "$");
  }
  return tag;
}

std::string DoBlock(absl::string_view body) {
  std::string tag = DollarTag(body);
  return absl::StrCat("DO ", tag, "\nBEGIN\n", body, "END\n", tag, ";\n");
}

// "-- " before each line of `text`, wrapped at 76 columns.
std::string Comment(absl::string_view text) {
  std::string out;
  std::string line = "--";
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (line.size() + 1 + word.size() > 76 && line != "--") {
      absl::StrAppend(&out, line, "\n");
      line = "--";
    }
    absl::StrAppend(&line, " ", word);
  }
  absl::StrAppend(&out, line, "\n");
  return out;
}

std::string KindWord(Kind kind) {
  switch (kind) {
    case Kind::kTable:
      return "TABLE";
    case Kind::kSequence:
      return "SEQUENCE";
    case Kind::kFunction:
      break;
  }
  return "FUNCTION";
}

// `head` ("GRANT ... ON ...") wrapped at 79 columns after its commas (our
// own names hold none), continued lines indented by 4, then " TO grantee;"
// (never broken: a quoted name may hold ", ").
std::string Wrapped(absl::string_view head, absl::string_view grantee) {
  std::string out;
  std::string line;
  for (absl::string_view part : absl::StrSplit(head, ", ")) {
    if (!line.empty() && line.size() + 2 + part.size() > 79) {
      absl::StrAppend(&out, line, ",\n");
      line = absl::StrCat("    ", part);
    } else {
      absl::StrAppend(&line, line.empty() ? "" : ", ", part);
    }
  }
  const std::string to = absl::StrCat(" TO ", grantee, ";");
  if (line.size() + to.size() > 79) {
    absl::StrAppend(&out, line, "\n    ", to.substr(1), "\n");
  } else {
    absl::StrAppend(&out, line, to, "\n");
  }
  return out;
}

std::string GrantStatement(const Grant& g, const std::string& grantee) {
  std::string privileges;
  for (absl::string_view p : g.privileges) {
    if (!privileges.empty()) privileges += ", ";
    absl::StrAppend(&privileges, p);
    if (!g.columns.empty()) {
      absl::StrAppend(&privileges, " (", absl::StrJoin(g.columns, ", "), ")");
    }
  }
  return absl::StrCat(
      Comment(g.why),
      Wrapped(absl::StrCat("GRANT ", privileges, " ON ", KindWord(g.kind), " ",
                           absl::StrJoin(g.objects, ", ")),
              grantee));
}

absl::Status CheckNames(const GrantRoles& roles) {
  for (GrantRole role : kRoles) {
    if (absl::Status s = CheckRoleName(role, roles.For(role)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// The statements, without the BEGIN and COMMIT that GrantsSql() adds.
std::string GrantsBody(const GrantRoles& roles) {
  std::string out;
  std::string create;
  std::vector<std::string> quoted;
  for (GrantRole role : kRoles) {
    const std::string& name = roles.For(role);
    std::string q = internal::QuoteIdentifier(name);
    bool seen = false;
    for (const std::string& earlier : quoted) seen = seen || earlier == q;
    if (seen) continue;
    quoted.push_back(q);
    absl::StrAppend(
        &create, "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ",
        QuoteLiteral(name), ") THEN\n    BEGIN\n      CREATE ROLE ", q,
        " NOLOGIN;\n    EXCEPTION WHEN duplicate_object THEN\n"
        "      NULL;  -- created meanwhile by another session\n"
        "    END;\n  END IF;\n");
  }
  absl::StrAppend(&out, "-- The roles, created where missing (NOLOGIN: ",
                  "login roles are their members).\n", DoBlock(create));
  absl::StrAppend(
      &out,
      "\n-- Every role: USAGE on the schema que_jobs is in (as this "
      "session's\n-- search_path finds it, as `qg migrate` did).\n",
      DoBlock(absl::StrCat(
          "  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s',\n"
          "                 (SELECT n.nspname FROM pg_namespace AS n\n"
          "                  JOIN pg_class AS c ON c.relnamespace = n.oid\n"
          "                  WHERE c.oid = 'que_jobs'::regclass),\n"
          "                 ",
          QuoteLiteral(absl::StrJoin(quoted, ", ")), ");\n")));
  for (GrantRole role : kRoles) {
    const std::string grantee = internal::QuoteIdentifier(roles.For(role));
    absl::StrAppend(
        &out, "\n",
        Comment(absl::StrCat("The ", GrantRoleName(role), ", ", grantee, ": ",
                             RoleSummary(role), ".")));
    for (const Grant& g : GrantsOf(role)) {
      absl::StrAppend(&out, GrantStatement(g, grantee));
    }
  }
  return out;
}

// One privilege CheckGrants() found missing: on `object`, and on `column`
// only when given.
struct Lacking {
  std::string object;
  std::string privilege;
  std::optional<std::string> column;
};

// What CheckGrants() reports: "SELECT, UPDATE on que_jobs; INSERT (a, b) on
// qg_batches", per object in the order of the role's grants.
std::string Listed(const std::vector<Lacking>& lacking) {
  std::vector<std::string> order;
  // object → (privilege, its columns) in order
  std::map<std::string, std::vector<std::pair<std::string, std::string>>>
      by_object;
  for (const Lacking& l : lacking) {
    auto [it, added] = by_object.try_emplace(l.object);
    if (added) order.push_back(l.object);
    auto& privileges = it->second;
    auto p = privileges.begin();
    while (p != privileges.end() && p->first != l.privilege) ++p;
    if (p == privileges.end()) {
      privileges.emplace_back(l.privilege, "");
      p = privileges.end() - 1;
    }
    if (l.column.has_value()) {
      absl::StrAppend(&p->second, p->second.empty() ? "" : ", ", *l.column);
    }
  }
  std::vector<std::string> parts;
  for (const std::string& object : order) {
    std::vector<std::string> privileges;
    for (const auto& [privilege, cols] : by_object[object]) {
      privileges.push_back(
          cols.empty() ? privilege : absl::StrCat(privilege, " (", cols, ")"));
    }
    parts.push_back(
        absl::StrCat(absl::StrJoin(privileges, ", "), " on ", object));
  }
  return absl::StrJoin(parts, "; ");
}

}  // namespace

absl::string_view GrantRoleName(GrantRole role) {
  switch (role) {
    case GrantRole::kEnqueuer:
      return "enqueuer";
    case GrantRole::kWorker:
      return "worker";
    case GrantRole::kOperator:
      break;
  }
  return "operator";
}

const std::string& GrantRoles::For(GrantRole role) const {
  switch (role) {
    case GrantRole::kEnqueuer:
      return enqueuer_role;
    case GrantRole::kWorker:
      return worker_role;
    case GrantRole::kOperator:
      break;
  }
  return operator_role;
}

absl::StatusOr<std::string> GrantsSql(const GrantRoles& roles) {
  if (absl::Status s = CheckNames(roles); !s.ok()) return s;
  return absl::StrCat(
      "-- qg-cpp's least-privilege roles (`qg grants`; qg/grants.h says what "
      "each\n-- may do). Apply as the owner of qg-cpp's tables (the role that "
      "ran `qg\n-- migrate`) or a superuser, with CREATEROLE for missing "
      "roles, e.g. with\n-- psql -v ON_ERROR_STOP=1: all of it or none. "
      "Grants only: nothing is\n-- revoked. Then make each login role a "
      "member of one, e.g.\n--   GRANT ",
      internal::QuoteIdentifier(roles.worker_role),
      " TO app_worker;\nBEGIN;\n\n", GrantsBody(roles), "\nCOMMIT;\n");
}

absl::Status ApplyGrants(PGconn* conn, const GrantRoles& roles) {
  if (absl::Status s = CheckNames(roles); !s.ok()) return s;
  absl::StatusOr<PgResult> r = ExecSimple(conn, GrantsBody(roles));
  if (r.ok()) return absl::OkStatus();
  const std::string state = SqlState(r.status());
  if (state == "42P01" || state == "42883" || state == "3F000") {
    return absl::FailedPreconditionError(absl::StrCat(
        "the grants are on qg-cpp's schema, which is missing or older than "
        "this qg-cpp: run `qg migrate` first (",
        r.status().message(), ")"));
  }
  if (state == "42501") {
    return absl::PermissionDeniedError(absl::StrCat(
        "applying the grants needs the owner of qg-cpp's tables (the role "
        "that ran `qg migrate`) or a superuser, and CREATEROLE where a role "
        "is missing: ",
        r.status().message()));
  }
  return r.status();
}

absl::Status CheckGrants(PGconn* conn, GrantRole role, GrantCheck check) {
  absl::StatusOr<PgResult> where = Exec(
      conn,
      "SELECT to_regclass('que_jobs') IS NOT NULL, current_user, "
      "(SELECT string_agg(quote_ident(n.nspname), ', ') "
      " FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
      " WHERE c.relname = 'que_jobs' AND c.relkind IN ('r', 'p') "
      " AND NOT has_schema_privilege(n.oid, 'USAGE'))");
  if (!where.ok()) return where.status();
  const std::string user = internal::QuoteIdentifier(where->Get(0, 1));
  const std::string how = absl::StrCat(
      " (`qg grants` prints the GRANTs of qg-cpp's ", GrantRoleName(role),
      " role; then, e.g., GRANT qg_", GrantRoleName(role), " TO ", user, ")");
  if (where->Get(0, 0) != "t") {
    if (!where->IsNull(0, 2)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "role ", user, " lacks what a qg-cpp ", GrantRoleName(role),
          " needs: USAGE on schema ", where->Get(0, 2), how));
    }
    return absl::FailedPreconditionError(
        "que_jobs is missing: run `qg migrate` (or apply "
        "schema/que_jobs.sql and schema/qg_additions.sql)");
  }
  std::vector<std::string> kinds, objects, privileges;
  std::vector<std::optional<std::string>> columns;
  for (const Grant& g : GrantsOf(role)) {
    if (check == GrantCheck::kEssential && !g.essential) continue;
    for (absl::string_view object : g.objects) {
      for (absl::string_view privilege : g.privileges) {
        std::vector<std::optional<std::string>> cols;
        for (absl::string_view c : g.columns) cols.emplace_back(c);
        if (cols.empty()) cols.emplace_back(std::nullopt);
        for (const std::optional<std::string>& c : cols) {
          kinds.push_back(g.kind == Kind::kTable      ? "table"
                          : g.kind == Kind::kSequence ? "sequence"
                                                      : "function");
          objects.emplace_back(object);
          privileges.emplace_back(privilege);
          columns.push_back(c);
        }
      }
    }
  }
  absl::StatusOr<PgResult> r = Exec(
      conn,
      "SELECT k.present, k.present AND CASE "
      "  WHEN k.kind = 'function' THEN coalesce((SELECT "
      "    bool_and(has_function_privilege(p.oid, 'EXECUTE')) FROM pg_proc "
      "    AS p WHERE p.proname = k.obj AND pg_function_is_visible(p.oid)), "
      "    false) "
      "  WHEN k.kind = 'sequence' THEN "
      "    has_sequence_privilege(to_regclass(k.obj), k.priv) "
      "  WHEN k.col IS NOT NULL THEN "
      "    has_column_privilege(to_regclass(k.obj), k.col, k.priv) "
      "  ELSE has_table_privilege(to_regclass(k.obj), k.priv) END "
      "FROM (SELECT u.*, CASE WHEN u.kind = 'function' THEN EXISTS ( "
      "        SELECT 1 FROM pg_proc AS p WHERE p.proname = u.obj "
      "        AND pg_function_is_visible(p.oid)) "
      "      ELSE to_regclass(u.obj) IS NOT NULL END AS present "
      "      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
      "      WITH ORDINALITY AS u(kind, obj, priv, col, n)) AS k "
      "ORDER BY k.n",
      {internal::ArrayLiteral(kinds), internal::ArrayLiteral(objects),
       internal::ArrayLiteral(privileges), internal::ArrayLiteral(columns)});
  if (!r.ok()) return r.status();
  std::vector<std::string> absent;
  std::vector<Lacking> lacking;
  for (int i = 0; i < r->rows(); ++i) {
    std::string object =
        kinds[i] == "function" ? absl::StrCat(objects[i], "()") : objects[i];
    if (r->Get(i, 0) != "t") {
      bool seen = false;
      for (const std::string& a : absent) seen = seen || a == object;
      if (!seen) absent.push_back(object);
    } else if (r->Get(i, 1) != "t") {
      lacking.push_back({object, privileges[i], columns[i]});
    }
  }
  if (!absent.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("qg-cpp's schema lacks ", absl::StrJoin(absent, ", "),
                     ": run `qg migrate`"));
  }
  if (!lacking.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat("role ", user, " lacks what a qg-cpp ",
                     GrantRoleName(role), " needs: ", Listed(lacking), how));
  }
  return absl::OkStatus();
}

}  // namespace qg
