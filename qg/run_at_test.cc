// A job's run_at across the SQL boundary, against a real PostgreSQL: every
// enqueue path stores exactly the instant it was given over the whole range a
// job may be scheduled in (0001-01-01 up to, not including, a dead job's
// 9999-01-01), and reads it back exactly; anything outside that range is
// refused with InvalidArgument before any SQL, and nothing is stored.
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qg/client.h"
#include "qg/executor.h"
#include "qg/job.h"
#include "qg/pg.h"
#include "qg/testing/database_test.h"
#include "qg/testing/status_matchers.h"

namespace qg {
namespace {

using ::qg_testing::StatusIs;
using ::testing::HasSubstr;

// A UTC time from its fields (astronomical year: 0 is 1 BC) and microseconds.
absl::Time Utc(int64_t year, int month, int day, int hour = 0, int minute = 0,
               int second = 0, int64_t micros = 0) {
  return absl::FromCivil(
             absl::CivilSecond(year, month, day, hour, minute, second),
             absl::UTCTimeZone()) +
         absl::Microseconds(micros);
}

// Microseconds since the Unix epoch, in decimal.
std::string UnixMicros(absl::Time t) {
  int64_t seconds = absl::ToUnixSeconds(t);  // rounded toward the past
  absl::int128 micros =
      absl::int128(seconds) * 1000000 +
      absl::ToInt64Microseconds(t - absl::FromUnixSeconds(seconds));
  std::ostringstream out;
  out << micros;
  return out.str();
}

// The edges of the accepted range, and of the centuries and the epoch.
const absl::Time kAccepted[] = {
    Utc(1, 1, 1),
    Utc(1, 1, 1, 0, 0, 0, 1),
    Utc(50, 6, 1),
    Utc(99, 12, 31, 23, 59, 59, 999999),
    Utc(100, 1, 1),
    Utc(1969, 12, 31, 23, 59, 59, 999999),
    Utc(1970, 1, 1),
    Utc(1970, 1, 1, 0, 0, 0, 1),
    Utc(9998, 12, 31, 23, 59, 59, 999999),
};

class RunAtTest : public qg_testing::DatabaseTest {
 protected:
  RunAtTest()
      : DatabaseTest({.max_conns = 4, .acquire_timeout = absl::Seconds(10)}) {}

  // The stored run_at of job `id` as microseconds since the epoch, computed
  // by PostgreSQL from the date and the time of day.
  std::string StoredMicros(int64_t id) {
    return Query(
        "SELECT (((run_at::date - date '1970-01-01')::numeric * 86400 + "
        "extract(epoch FROM run_at::time)) * 1000000)::numeric(30) "
        "FROM que_jobs WHERE job_id = $1",
        {absl::StrCat(id)});
  }
  // Checks that jobs `ids` hold run_ats `want`, in order.
  void ExpectStored(const std::vector<int64_t>& ids,
                    const std::vector<absl::Time>& want,
                    absl::string_view path) {
    ASSERT_EQ(ids.size(), want.size()) << path;
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(StoredMicros(ids[i]), UnixMicros(want[i]))
          << path << ": " << FormatTimestamp(want[i]);
    }
  }
};

TEST_F(RunAtTest, EveryEnqueuePathStoresTheInstantExactly) {
  std::vector<absl::Time> times(std::begin(kAccepted), std::end(kAccepted));
  auto job = [](absl::Time t, std::string type = "T") {
    return NewJob{.type = std::move(type), .run_at = t};
  };
  auto unique = [&](absl::Time t, int i) {
    NewJob j = job(t, "U");
    j.unique = UniqueOpts{.key = absl::StrCat("k", i)};
    return j;
  };

  std::vector<int64_t> ids;
  for (absl::Time t : times) {
    absl::StatusOr<int64_t> id = client_->Enqueue(job(t));
    QG_ASSERT_OK(id.status()) << FormatTimestamp(t);
    ids.push_back(*id);
  }
  ExpectStored(ids, times, "Enqueue");

  ids.clear();
  {
    QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PgTx> tx, PgTx::Begin(conn_.get()));
    for (absl::Time t : times) {
      absl::StatusOr<int64_t> id = client_->EnqueueInTx(job(t), *tx);
      QG_ASSERT_OK(id.status()) << FormatTimestamp(t);
      ids.push_back(*id);
    }
    QG_ASSERT_OK(tx->Commit());
  }
  ExpectStored(ids, times, "EnqueueInTx");

  std::vector<NewJob> many;
  for (absl::Time t : times) many.push_back(job(t));
  QG_ASSERT_OK_AND_ASSIGN(ids, client_->EnqueueMany(many));
  ExpectStored(ids, times, "EnqueueMany");

  ids.clear();
  for (size_t i = 0; i < times.size(); ++i) {
    absl::StatusOr<int64_t> id = client_->Enqueue(unique(times[i], i));
    QG_ASSERT_OK(id.status()) << FormatTimestamp(times[i]);
    ids.push_back(*id);
  }
  ExpectStored(ids, times, "Enqueue (unique)");

  many.clear();
  for (size_t i = 0; i < times.size(); ++i) {
    many.push_back(unique(times[i], 100 + i));
  }
  QG_ASSERT_OK_AND_ASSIGN(ids, client_->EnqueueMany(many));
  ExpectStored(ids, times, "EnqueueMany (unique)");

  size_t next = 0;
  QG_ASSERT_OK_AND_ASSIGN(int64_t streamed,
                          client_->EnqueueStream([&](NewJob& j) {
                            if (next == times.size()) return false;
                            j = job(times[next++], "S");
                            return true;
                          }));
  EXPECT_EQ(streamed, static_cast<int64_t>(times.size()));
  EXPECT_EQ(
      Query("SELECT string_agg(to_char(run_at, 'YYYY-MM-DD HH24:MI:SS.US'),"
            " ' ' ORDER BY job_id) FROM que_jobs WHERE job_class = 'S'"),
      "0001-01-01 00:00:00.000000 0001-01-01 00:00:00.000001 "
      "0050-06-01 00:00:00.000000 0099-12-31 23:59:59.999999 "
      "0100-01-01 00:00:00.000000 1969-12-31 23:59:59.999999 "
      "1970-01-01 00:00:00.000000 1970-01-01 00:00:00.000001 "
      "9998-12-31 23:59:59.999999");
}

// Out of SQL: a worker locks each of these (all are due) and reads the run_at
// it was enqueued with.
TEST_F(RunAtTest, LockedJobsReadTheirRunAtBackExactly) {
  for (absl::Time t : kAccepted) {
    if (t > absl::Now()) continue;  // not due yet: nothing to lock
    QG_ASSERT_OK(client_->Enqueue({.type = "T", .run_at = t}).status());
  }
  std::vector<absl::Time> read;
  for (;;) {
    QG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Job> job, client_->LockJob(""));
    if (job == nullptr) break;
    read.push_back(job->run_at());
    QG_ASSERT_OK(job->Delete());
    job->Done();
  }
  std::vector<absl::Time> want;
  for (absl::Time t : kAccepted) {
    if (t <= absl::Now()) want.push_back(t);
  }
  EXPECT_EQ(read, want);
}

TEST_F(RunAtTest, OutsideTheRangeIsRefusedBeforeAnySql) {
  const absl::Time refused[] = {
      Utc(0, 12, 31, 23, 59, 59, 999999),  // 1 BC
      Utc(-43, 3, 15),                     // 44 BC
      Utc(-5000, 1, 1),                    // before timestamptz
      absl::InfinitePast(),
      Utc(9999, 1, 1),  // a dead job's run_at
      Utc(9999, 1, 1, 0, 0, 0, 1),
      Utc(10000, 1, 1),
      Utc(300000, 1, 1),  // after timestamptz
      absl::InfiniteFuture(),
  };
  for (absl::Time t : refused) {
    SCOPED_TRACE(FormatTimestamp(t));
    NewJob job{.type = "T", .run_at = t};
    EXPECT_THAT(ValidateNewJob(job),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("0001-01-01 00:00:00 UTC up to")));
    EXPECT_THAT(
        client_->Enqueue(job),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("run_at")));
    EXPECT_THAT(
        client_->EnqueueMany({{.type = "T"}, job}),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("run_at")));
    NewJob unique = job;
    unique.unique = UniqueOpts{};
    EXPECT_THAT(
        client_->Enqueue(unique),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("run_at")));
    bool sent = false;
    EXPECT_THAT(
        client_->EnqueueStream([&](NewJob& j) {
          if (sent) return false;
          j = job;
          sent = true;
          return true;
        }),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("run_at")));
  }
  EXPECT_EQ(CountJobs("true"), 0);
}

}  // namespace
}  // namespace qg
