// qg::Client's bulk paths: EnqueueMany (array INSERTs of up to 1000 jobs) and
// EnqueueStream (COPY). The single-job paths are in client.cc.
#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "qg/client.h"
#include "qg/enqueue_util.h"
#include "qg/internal/guarded.h"
#include "qg/internal/pg.h"
#include "qg/internal/queries.h"
#include "qg/internal/sql.h"
#include "qg/pg.h"

namespace qg {
namespace {

namespace queries = internal::queries;
using internal::CheckOpenTransaction;
using internal::InsertRow;
using internal::JobRow;
using internal::Prefixed;
using internal::QueryCall;

// Jobs per INSERT statement.
constexpr size_t kChunk = 1000;

// Every job validated as Enqueue() does, before any SQL; an error names the
// job's place in the call.
absl::StatusOr<std::vector<InsertRow>> ValidateAll(
    const std::vector<NewJob>& jobs, absl::Time now) {
  std::vector<InsertRow> rows;
  rows.reserve(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    absl::StatusOr<InsertRow> row = ValidateNewJob(jobs[i], now);
    if (!row.ok()) {
      return Prefixed(row.status(),
                      absl::StrCat("job #", i + 1, " of ", jobs.size(),
                                   " (jobs[", i, "]): "));
    }
    rows.push_back(std::move(*row));
  }
  return rows;
}

// One INSERT of jobs none of which is unique; appends their ids.
absl::Status InsertPlain(Executor& exec, absl::Span<const InsertRow> chunk,
                         std::vector<EnqueueResult>& results) {
  absl::StatusOr<Rows> result = QueryCall(exec, queries::InsertMany(chunk));
  if (!result.ok()) return result.status();
  for (const auto& row : result->rows) {
    int64_t id = 0;
    if (!row[0] || !absl::SimpleAtoi(*row[0], &id)) {
      return absl::InternalError("INSERT returned no job_id");
    }
    results.push_back({id, false});
  }
  return absl::OkStatus();
}

// One INSERT of jobs some of which are unique; appends each one's id (the
// holder's for a duplicate). A duplicate whose holder the statement could
// not see is inserted again on its own.
absl::Status InsertWithUnique(Executor& exec, absl::Span<const InsertRow> chunk,
                              std::vector<EnqueueResult>& results) {
  absl::StatusOr<Rows> result =
      QueryCall(exec, queries::InsertManyUnique(chunk));
  if (!result.ok()) return internal::UniqueStatementError(result.status());
  if (result->rows.size() != chunk.size()) {
    return absl::InternalError("unique batch insert lost rows");
  }
  const size_t from = results.size();
  std::vector<size_t> unresolved;
  for (size_t i = 0; i < chunk.size(); ++i) {
    const auto& row = result->rows[i];
    int64_t id = 0;
    if (!row[1]) {
      unresolved.push_back(i);  // the key's holder was not visible
    } else if (!absl::SimpleAtoi(*row[1], &id)) {
      return absl::InternalError("INSERT returned no job_id");
    }
    results.push_back({id, row[2] == "t"});
  }
  for (size_t i : unresolved) {
    absl::StatusOr<std::pair<JobRow, bool>> stored =
        internal::InsertUnique(exec, chunk[i]);
    if (!stored.ok()) return stored.status();
    results[from + i] = {stored->first.key.id, stored->second};
  }
  return absl::OkStatus();
}

// Every row, in statements of up to kChunk; one result per row, in order.
// A row with parents is stored on its own (InsertChild), between chunks.
absl::Status InsertAll(Executor& exec, const std::vector<InsertRow>& rows,
                       std::vector<EnqueueResult>& results) {
  size_t from = 0;
  while (from < rows.size()) {
    if (!rows[from].depends_on.empty()) {
      absl::StatusOr<int64_t> id = internal::InsertChild(exec, rows[from]);
      if (!id.ok()) return id.status();
      results.push_back({*id, false});
      ++from;
      continue;
    }
    size_t to = from;
    while (to < rows.size() && to - from < kChunk &&
           rows[to].depends_on.empty()) {
      ++to;
    }
    absl::Span<const InsertRow> chunk =
        absl::MakeConstSpan(rows).subspan(from, to - from);
    bool unique =
        std::any_of(chunk.begin(), chunk.end(),
                    [](const InsertRow& r) { return r.NeedsAdditions(); });
    absl::Status s = unique ? InsertWithUnique(exec, chunk, results)
                            : InsertPlain(exec, chunk, results);
    if (!s.ok()) return s;
    from = to;
  }
  return absl::OkStatus();
}

// Runs `body` through `tx` when given (the caller's transaction), else in
// one transaction of the client's, on a connection of `pool`: committed
// when `body` succeeds, rolled back otherwise.
absl::Status InTransaction(internal::ConnPool& pool,
                           absl::Duration acquire_timeout, Executor* tx,
                           const std::function<absl::Status(Executor&)>& body) {
  if (tx != nullptr) return body(*tx);
  absl::StatusOr<internal::PooledConn> conn = pool.Acquire(acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<std::unique_ptr<PgTx>> own = PgTx::Begin(conn->get());
  if (!own.ok()) return own.status();
  if (absl::Status s = body(**own); !s.ok()) return s;
  return (*own)->Commit();
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> Client::EnqueueMany(
    const std::vector<NewJob>& jobs, Executor* tx) {
  absl::StatusOr<std::vector<EnqueueResult>> results =
      EnqueueManyDetailed(jobs, tx);
  if (!results.ok()) return results.status();
  std::vector<int64_t> ids;
  ids.reserve(results->size());
  for (const EnqueueResult& r : *results) ids.push_back(r.id);
  return ids;
}

absl::StatusOr<std::vector<EnqueueResult>> Client::EnqueueManyDetailed(
    const std::vector<NewJob>& jobs, Executor* tx) {
  if (tx != nullptr) {
    if (absl::Status s = CheckOpenTransaction(*tx, "EnqueueMany"); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<std::vector<InsertRow>> rows =
      ValidateAll(jobs, clock_->Now());
  if (!rows.ok()) return rows.status();
  const bool any_unique =
      std::any_of(rows->begin(), rows->end(),
                  [](const InsertRow& r) { return r.NeedsAdditions(); });
  std::vector<EnqueueResult> results;
  results.reserve(jobs.size());
  auto insert = [&](Executor& exec) -> absl::Status {
    if (any_unique) {
      if (absl::Status s = CheckUniqueSchema(exec); !s.ok()) return s;
    }
    return InsertAll(exec, *rows, results);
  };
  if (absl::Status s =
          InTransaction(*pool_, options_.acquire_timeout, tx, insert);
      !s.ok()) {
    return s;
  }
  return results;
}

absl::StatusOr<std::vector<int64_t>> Client::EnqueueWorkflow(
    const Workflow& workflow, Executor* tx) {
  if (tx != nullptr) {
    if (absl::Status s = CheckOpenTransaction(*tx, "EnqueueWorkflow");
        !s.ok()) {
      return s;
    }
  }
  const std::vector<Workflow::Node>& nodes = workflow.nodes();
  const absl::Time now = clock_->Now();
  std::vector<InsertRow> rows;
  rows.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string where =
        absl::StrCat("workflow job #", i, " (", nodes[i].job.type, "): ");
    for (size_t parent : nodes[i].after) {
      if (parent >= i) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "runs after handle ", parent,
                         ", which is not a job added before it"));
      }
    }
    absl::StatusOr<InsertRow> row = ValidateNewJob(nodes[i].job, now);
    if (!row.ok()) return Prefixed(row.status(), where);
    if (!nodes[i].after.empty() &&
        (nodes[i].job.unique.has_value() || nodes[i].job.run_at.has_value())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "a job with parents cannot be unique or have a run_at"));
    }
    if (!nodes[i].after.empty()) {
      row->cancel_on_parent_failure =
          nodes[i].job.on_parent_failure == NewJob::OnParentFailure::kCancel;
    }
    rows.push_back(std::move(*row));
  }
  std::vector<int64_t> ids;
  ids.reserve(rows.size());
  auto insert = [&](Executor& exec) -> absl::Status {
    for (size_t i = 0; i < rows.size(); ++i) {
      InsertRow& row = rows[i];
      for (size_t parent : nodes[i].after)
        row.depends_on.push_back(ids[parent]);
      std::vector<EnqueueResult> stored;
      if (absl::Status s = InsertAll(exec, {row}, stored); !s.ok()) {
        return Prefixed(
            s, absl::StrCat("workflow job #", i, " (", row.type, "): "));
      }
      ids.push_back(stored.at(0).id);
    }
    return absl::OkStatus();
  };
  if (absl::Status s =
          InTransaction(*pool_, options_.acquire_timeout, tx, insert);
      !s.ok()) {
    return s;
  }
  return ids;
}

namespace {

absl::Status CopyError(PGconn* conn, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", PQerrorMessage(conn)));
}

// The next job of the stream, validated (nullopt: the source has no more);
// `index` is its number, from 1. A source that throws, a unique job or an
// invalid one is an error naming the job.
absl::StatusOr<std::optional<InsertRow>> NextRow(const Client::JobSource& next,
                                                 int64_t index) {
  NewJob job;
  absl::StatusOr<bool> more =
      internal::Guard("EnqueueStream: the job source",
                      [&] { return absl::StatusOr<bool>(next(job)); });
  if (!more.ok()) {
    return absl::Status(
        more.status().code(),
        absl::StrCat(more.status().message(), " making job #", index,
                     "; the COPY was aborted: nothing is stored"));
  }
  if (!*more) return std::nullopt;
  if (job.unique.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job #", index,
        " of the stream is unique (NewJob::unique): COPY cannot skip "
        "duplicates, so EnqueueStream refuses unique jobs; enqueue them "
        "with EnqueueMany, which reports duplicates"));
  }
  if (job.limit_key.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job #", index,
        " of the stream has a limit key (NewJob::limit_key), which "
        "EnqueueStream's COPY does not store; enqueue it with EnqueueMany, "
        "or key the limit by args fields (Limit::KeyBy::kArgs)"));
  }
  if (!job.depends_on.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job #", index,
        " of the stream has parents (NewJob::depends_on), which "
        "EnqueueStream's COPY cannot link; enqueue it with EnqueueMany or "
        "a Workflow"));
  }
  absl::StatusOr<InsertRow> row = ValidateNewJob(job);
  if (!row.ok()) {
    return Prefixed(row.status(),
                    absl::StrCat("job #", index, " of the stream: "));
  }
  return std::move(*row);
}

// `row` as a line of COPY's text format; a row without run_at gets `tx_now`.
// With `batch_column`, the line ends with the row's batch id (\N: none).
void AppendCopyRow(const InsertRow& row, const std::string& tx_now,
                   bool batch_column, std::string& buf) {
  internal::AppendCopyField(row.queue, buf);
  buf.push_back('\t');
  absl::StrAppend(&buf, row.priority);
  buf.push_back('\t');
  buf += row.run_at ? qg::FormatTimestamp(*row.run_at) : tx_now;
  buf.push_back('\t');
  internal::AppendCopyField(row.type, buf);
  buf.push_back('\t');
  internal::AppendCopyField(row.args, buf);
  if (batch_column) {
    buf.push_back('\t');
    if (row.batch_id.has_value()) {
      absl::StrAppend(&buf, *row.batch_id);
    } else {
      buf += "\\N";
    }
  }
  buf.push_back('\n');
}

// Starts COPY que_jobs on `conn`; returns the transaction's now(), which
// rows without run_at get (what the column default would give: COPY cannot
// ask for DEFAULT per row).
absl::StatusOr<std::string> StartCopy(PGconn* conn, bool batch_column) {
  absl::StatusOr<PgResult> now = internal::Run(conn, queries::TransactionNow());
  if (!now.ok()) return now.status();
  const internal::sql::Statement& copy =
      batch_column ? internal::sql::kCopyJobsBatch : internal::sql::kCopyJobs;
  PgResult start(PQexec(conn, copy.text));
  if (PQresultStatus(start.get()) != PGRES_COPY_IN) {
    return qg::StatusFromResult(conn, start.get(), copy.name);
  }
  return std::string(now->Get(0, 0));
}

// Ends the COPY: with `why` not OK, aborts it (nothing is stored) and
// returns `why`; otherwise sends what `buf` still holds and returns the
// server's verdict.
absl::Status EndCopy(PGconn* conn, const std::string& buf,
                     const absl::Status& why) {
  if (!why.ok()) {
    PQputCopyEnd(conn, "aborted by qg: invalid job in stream");
    while (PGresult* r = PQgetResult(conn)) PQclear(r);
    return why;
  }
  if ((!buf.empty() &&
       PQputCopyData(conn, buf.data(), static_cast<int>(buf.size())) != 1) ||
      PQputCopyEnd(conn, nullptr) != 1) {
    return CopyError(conn, "COPY que_jobs");
  }
  PgResult end(PQgetResult(conn));
  absl::Status s = qg::StatusFromResult(conn, end.get(), "COPY que_jobs");
  while (PGresult* r = PQgetResult(conn)) PQclear(r);
  return s;
}

// Streams `next` through COPY on `conn`, inside an open transaction, in
// 64 KiB sends.
// A stream whose first job joins a batch (NewJob::batch_id) copies a batch
// column too; a later job with a batch in a stream whose first job had
// none is refused (the COPY's columns are chosen before it starts).
absl::StatusOr<int64_t> CopyJobs(PGconn* conn, const Client::JobSource& next) {
  absl::StatusOr<std::optional<InsertRow>> first = NextRow(next, 1);
  if (!first.ok()) return first.status();
  const bool batch_column =
      first->has_value() && (*first)->batch_id.has_value();
  absl::StatusOr<std::string> tx_now = StartCopy(conn, batch_column);
  if (!tx_now.ok()) return tx_now.status();
  constexpr size_t kFlushAt = 64 * 1024;
  std::string buf;
  int64_t count = 0;
  absl::Status invalid;
  while (true) {
    absl::StatusOr<std::optional<InsertRow>> row =
        count == 0 ? std::move(first) : NextRow(next, count + 1);
    if (row.ok() && row->has_value() && (*row)->batch_id.has_value() &&
        !batch_column) {
      row = absl::InvalidArgumentError(absl::StrCat(
          "job #", count + 1,
          " of the stream joins a batch (NewJob::batch_id) but the "
          "stream's first job does not: start the stream with a job of the "
          "batch, or use EnqueueMany"));
    }
    if (!row.ok()) invalid = row.status();
    if (!row.ok() || !row->has_value()) break;
    AppendCopyRow(**row, *tx_now, batch_column, buf);
    ++count;
    if (buf.size() >= kFlushAt) {
      if (PQputCopyData(conn, buf.data(), static_cast<int>(buf.size())) != 1) {
        return CopyError(conn, "COPY que_jobs");
      }
      buf.clear();
    }
  }
  if (absl::Status s = EndCopy(conn, buf, invalid); !s.ok()) return s;
  return count;
}

}  // namespace

absl::StatusOr<int64_t> Client::EnqueueStream(const JobSource& next,
                                              PGconn* tx_conn) {
  if (tx_conn != nullptr) {
    if (absl::Status s = CheckOpenTransaction(tx_conn, "EnqueueStream");
        !s.ok()) {
      return s;
    }
    return CopyJobs(tx_conn, next);
  }
  absl::StatusOr<internal::PooledConn> conn =
      pool_->Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<std::unique_ptr<PgTx>> tx = PgTx::Begin(conn->get());
  if (!tx.ok()) return tx.status();
  absl::StatusOr<int64_t> n = CopyJobs(conn->get(), next);
  if (!n.ok()) return n.status();  // ~PgTx rolls back
  if (absl::Status s = (*tx)->Commit(); !s.ok()) return s;
  return n;
}

}  // namespace qg
