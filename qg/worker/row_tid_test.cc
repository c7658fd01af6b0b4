// Where a locked row was read (its ctid, JobKey::row_tid), against a real
// PostgreSQL: the lock scan returns it and re-checks its rows there; the
// deletes of completed jobs look there first and by key when the row is not
// there any more (updated, moved, or a wrong hint), and never touch a row
// that is not one of theirs.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/internal/queries.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/status_matchers.h"

namespace qg {
namespace {

using ::testing::UnorderedElementsAre;

class RowTidTest : public qg_testing::DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    Query(
        "INSERT INTO que_jobs (job_id, job_class, run_at) SELECT i, 'J', "
        "now() - interval '1 hour' + i * interval '1 second' FROM "
        "generate_series(1, $1::int) i RETURNING 1",
        {absl::StrCat(kJobs)});
    QG_ASSERT_OK_AND_ASSIGN(locker_, qg::Connect(db_->conninfo()));
    // The locker session's planner settings, and the plans a session keeps
    // (made with parameters, as after a few calls).
    QG_ASSERT_OK(
        internal::Run(locker_.get(), internal::queries::LockerSettings())
            .status());
    QG_ASSERT_OK(qg::ExecSimple(locker_.get(),
                                "SET plan_cache_mode = force_generic_plan")
                     .status());
  }

  // Locks every job (one lock scan) and reads the rows as the pool does.
  std::vector<internal::JobRow> LockAll() {
    absl::StatusOr<PgResult> r = internal::Run(
        locker_.get(),
        internal::queries::LockJobs("", kJobs, {}, 2 * kJobs, std::nullopt));
    if (!r.ok()) {
      ADD_FAILURE() << r.status();
      return {};
    }
    absl::StatusOr<internal::JobRowReader> reader =
        internal::JobRowReader::For(*r);
    if (!reader.ok()) {
      ADD_FAILURE() << reader.status();
      return {};
    }
    std::vector<internal::JobRow> rows;
    const int locked = PQfnumber(r->get(), "locked");
    for (int i = 0; i < r->rows(); ++i) {
      if (r->Get(i, locked) != "t") continue;
      absl::StatusOr<internal::JobRow> row = reader->Read(*r, i);
      if (!row.ok()) {
        ADD_FAILURE() << row.status();
        continue;
      }
      rows.push_back(std::move(*row));
    }
    return rows;
  }

  std::string CtidOf(int64_t id) {
    return Query("SELECT ctid::text FROM que_jobs WHERE job_id = $1",
                 {absl::StrCat(id)});
  }

  // The jobs again, in a table whose statistics say it is empty (as after
  // an ANALYZE of an empty queue, then a burst of jobs).
  void AnalyzedWhileEmpty() {
    Query("CREATE TEMP TABLE saved AS SELECT * FROM que_jobs");
    Query("DELETE FROM que_jobs RETURNING 1");
    QG_ASSERT_OK(
        qg::ExecSimple(conn_.get(), "VACUUM ANALYZE que_jobs").status());
    Query("INSERT INTO que_jobs SELECT * FROM saved RETURNING 1");
  }

  // Index entries of the primary key read in the locker's transaction.
  int64_t KeyEntriesRead() {
    absl::StatusOr<PgResult> r = qg::Exec(
        locker_.get(),
        "SELECT pg_stat_get_xact_tuples_returned('que_jobs_pkey'::regclass)");
    int64_t n = -1;
    if (!r.ok() || !absl::SimpleAtoi(r->Get(0, 0), &n)) {
      ADD_FAILURE() << "cannot read the index statistics";
    }
    return n;
  }

  static constexpr int kJobs = 6;
  qg::PgConnPtr locker_;
};

TEST_F(RowTidTest, LockScanReturnsWhereEachRowIs) {
  std::vector<internal::JobRow> rows = LockAll();
  ASSERT_EQ(rows.size(), kJobs);
  for (const internal::JobRow& row : rows) {
    EXPECT_FALSE(row.key.row_tid.empty()) << "job " << row.key.id;
    EXPECT_EQ(row.key.row_tid, CtidOf(row.key.id)) << "job " << row.key.id;
  }
}

TEST_F(RowTidTest, LockScanRechecksRowsWhereItReadThem) {
  // Fails when the re-check looks each locked row up by key again: the
  // scan reads one index entry per candidate, a re-check by key one more
  // per locked row (or the whole key index, planned on the statistics of
  // a queue that looked empty).
  AnalyzedWhileEmpty();
  Query(
      "INSERT INTO que_jobs (job_id, job_class, run_at) SELECT 100 + i, 'J', "
      "now() - interval '30 minutes' + i * interval '1 millisecond' FROM "
      "generate_series(1, 200) i RETURNING 1");
  QG_ASSERT_OK(qg::ExecSimple(locker_.get(), "BEGIN").status());
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r,
      internal::Run(locker_.get(), internal::queries::LockJobs("", 150, {}, 300,
                                                               std::nullopt)));
  EXPECT_EQ(r.rows(), 151);  // 150 locked and the summary
  EXPECT_LE(KeyEntriesRead(), 160) << "index entries the lock call read";
  QG_ASSERT_OK(qg::ExecSimple(locker_.get(), "COMMIT").status());
}

// The jobs a lock scan locked, by id (re-entrant session locks: a job the
// session holds and does not list in `held` would come back again).
std::vector<int64_t> LockedIds(const PgResult& r) {
  std::vector<int64_t> ids;
  const int locked = PQfnumber(r.get(), "locked");
  const int job_id = PQfnumber(r.get(), "job_id");
  for (int i = 0; i < r.rows(); ++i) {
    int64_t id = 0;
    if (r.Get(i, locked) == "t" && absl::SimpleAtoi(r.Get(i, job_id), &id)) {
      ids.push_back(id);
    }
  }
  return ids;
}

TEST_F(RowTidTest, LockScanSkipsWhatTheSessionHoldsAtEitherEndOfHeld) {
  // `held` is searched only for candidates between its least and greatest
  // id: the ends themselves, ids among them and slot keys (negative) in it
  // must still keep a held job from being locked a second time.
  for (int64_t id : {2, 4, 5}) {
    QG_ASSERT_OK(qg::Exec(locker_.get(),
                          absl::StrCat("SELECT pg_advisory_lock(", id, ")"))
                     .status());
  }
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r, internal::Run(locker_.get(), internal::queries::LockJobs(
                                                   "", kJobs, {-7, 4, 2, 5},
                                                   2 * kJobs, std::nullopt)));
  EXPECT_THAT(LockedIds(r), UnorderedElementsAre(1, 3, 6));
  // Held ids the queue does not have, on both sides of every job: each job
  // is searched for, and none is held.
  QG_ASSERT_OK(qg::ExecSimple(locker_.get(), "SELECT pg_advisory_unlock_all()")
                   .status());
  QG_ASSERT_OK_AND_ASSIGN(
      r, internal::Run(locker_.get(),
                       internal::queries::LockJobs("", kJobs, {0, 7}, 2 * kJobs,
                                                   std::nullopt)));
  EXPECT_THAT(LockedIds(r), UnorderedElementsAre(1, 2, 3, 4, 5, 6));
  // Every lock was taken once: one unlock each lets go of all of them.
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult unlocked,
      qg::Exec(locker_.get(),
               "SELECT count(*) FILTER (WHERE pg_advisory_unlock(i)) FROM "
               "generate_series(1, 6) i"));
  EXPECT_EQ(unlocked.Get(0, 0), "6");
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult left,
      qg::Exec(locker_.get(),
               "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
               "AND pid = pg_backend_pid()"));
  EXPECT_EQ(left.Get(0, 0), "0");
}

TEST_F(RowTidTest, DeletesLookWhereRowsWereReadThenByKey) {
  std::vector<internal::JobRow> rows = LockAll();
  ASSERT_EQ(rows.size(), kJobs);
  std::vector<internal::JobKey> keys;
  for (const internal::JobRow& row : rows) keys.push_back(row.key);
  auto key = [&](int64_t id) -> internal::JobKey& {
    return *std::find_if(
        keys.begin(), keys.end(),
        [id](const internal::JobKey& k) { return k.id == id; });
  };
  // Job 2's row moved (updated, same key); job 3's hint is unknown; job 4's
  // hint points at job 5's row, which is not in the batch; job 6's key
  // changed (the caller writes it by id); job 1 is where it was read.
  Query("UPDATE que_jobs SET args = '[2]' WHERE job_id = 2 RETURNING 1");
  ASSERT_NE(CtidOf(2), key(2).row_tid);
  key(3).row_tid.clear();
  key(4).row_tid = CtidOf(5);
  Query(
      "UPDATE que_jobs SET run_at = run_at + interval '1 minute' WHERE "
      "job_id = 6 RETURNING 1");
  std::vector<internal::JobKey> batch;
  for (int64_t id : {1, 2, 3, 4, 6}) batch.push_back(key(id));
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r,
      internal::Run(locker_.get(), internal::queries::FinishBatchPlain(batch)));
  QG_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> deleted,
                          internal::ReadIds(r, 0));
  EXPECT_THAT(deleted, UnorderedElementsAre(1, 2, 3, 4));
  EXPECT_EQ(CountJobs(), 2);
  EXPECT_EQ(CountJobs("job_id IN (5, 6)"), 2);
}

TEST_F(RowTidTest, DeletesLeaveAJobMovedToAnotherQueueToTheWriteById) {
  // A running job an operator moved to a queue with history on, whose new
  // version landed where the lock scan read the old one. The plain delete
  // checks history only for the batch's queues: it must not delete the
  // row (the write by id then does, recording it). Failed before the
  // delete by ctid checked the row's queue.
  Query(
      "INSERT INTO qg_queues (queue, history) VALUES ('h', true) RETURNING 1");
  std::vector<internal::JobRow> rows = LockAll();
  ASSERT_EQ(rows.size(), kJobs);
  internal::JobKey key = rows.front().key;
  const std::string id = absl::StrCat(key.id);
  Query("UPDATE que_jobs SET queue = 'h' WHERE job_id = $1 RETURNING 1", {id});
  QG_ASSERT_OK(qg::ExecSimple(conn_.get(), "VACUUM que_jobs").status());
  Query("UPDATE que_jobs SET last_error = 'x' WHERE job_id = $1 RETURNING 1",
        {id});
  ASSERT_EQ(CtidOf(key.id), key.row_tid) << "the new version is elsewhere";
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r,
      internal::Run(locker_.get(), internal::queries::FinishBatchPlain({key})));
  QG_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> deleted,
                          internal::ReadIds(r, 0));
  EXPECT_THAT(deleted, ::testing::IsEmpty());
  EXPECT_EQ(CountJobs("queue = 'h'"), 1);
}

TEST_F(RowTidTest, DeletesOfRowsWhereTheyWereReadProbeNoKey) {
  // Fails when the delete looks the rows up by key although each is where
  // its lock scan read it (or walks the whole key index, planned on the
  // statistics of a queue that looked empty).
  AnalyzedWhileEmpty();
  std::vector<internal::JobRow> rows = LockAll();
  ASSERT_EQ(rows.size(), kJobs);
  std::vector<internal::JobKey> keys;
  for (const internal::JobRow& row : rows) keys.push_back(row.key);
  QG_ASSERT_OK(qg::ExecSimple(locker_.get(), "BEGIN").status());
  const int64_t before = KeyEntriesRead();
  QG_ASSERT_OK_AND_ASSIGN(
      PgResult r,
      internal::Run(locker_.get(), internal::queries::FinishBatchPlain(keys)));
  QG_ASSERT_OK_AND_ASSIGN(std::vector<int64_t> deleted,
                          internal::ReadIds(r, 0));
  EXPECT_EQ(deleted.size(), kJobs);
  EXPECT_EQ(KeyEntriesRead(), before);
  QG_ASSERT_OK(qg::ExecSimple(locker_.get(), "COMMIT").status());
  EXPECT_EQ(CountJobs(), 0);
}

TEST_F(RowTidTest, PriorityWalksStopAtTheFirstEntryWhateverThePlan) {
  // The lock scan from the head, the sweep and the next due time step from
  // priority to priority. Fails when each step is a min() over the queue's
  // rows: planned while the queue looked empty, that aggregates every row
  // at or after the priority.
  AnalyzedWhileEmpty();
  Query(
      "INSERT INTO que_jobs (job_id, job_class, priority, run_at) SELECT "
      "100 + i, 'J', 5, now() - interval '30 minutes' + i * interval '1 "
      "millisecond' FROM generate_series(1, 300) i RETURNING 1");
  Query(
      "INSERT INTO que_jobs (job_id, job_class, priority, run_at) VALUES "
      "(1000, 'J', 9, now() + interval '1 hour') RETURNING 1");
  QG_ASSERT_OK(qg::ExecSimple(locker_.get(), "BEGIN").status());
  for (int i = 0; i < 3; ++i) {
    QG_ASSERT_OK_AND_ASSIGN(
        PgResult r,
        internal::Run(locker_.get(), internal::queries::NextDue("")));
    ASSERT_EQ(r.rows(), 1);
    EXPECT_EQ(r.Get(0, 2), "9");  // the future job's priority
  }
  // Three calls, each the head of three priorities and one look-up in the
  // one with a future job: a few entries each, not 307.
  EXPECT_LE(KeyEntriesRead(), 30) << "index entries three calls read";
  QG_ASSERT_OK(qg::ExecSimple(locker_.get(), "COMMIT").status());
}

}  // namespace
}  // namespace qg
