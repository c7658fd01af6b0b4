// The completion batch's life cycle: write, then release in a later round
// trip; failures isolated and retried; key changes written by id; an older
// session's completions dropped. No database: the responses are made up.
#include "qg/worker/completion_batch.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qg::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

Completion Done(int64_t id, Outcome::Kind kind, uint64_t generation = 1) {
  Completion c;
  c.key.id = id;
  c.key.queue = "q";
  c.key.run_at_text = "2026-11-29 06:00:00+00";
  c.generation = generation;
  c.outcome.kind = kind;
  if (kind == Outcome::Kind::kError) {
    c.outcome.error.error_count = 1;
    c.outcome.error.delay = absl::Seconds(4);
    c.outcome.error.message = "caf\xC3\xA9 failed";
  }
  return c;
}

std::vector<const char*> Names(const CompletionBatch::Request& r) {
  std::vector<const char*> names;
  for (const auto& w : r.writes) names.push_back(w.call.statement->name);
  return names;
}

// A response in which every write returned all its ids.
CompletionBatch::Response AllWritten(const CompletionBatch::Request& r) {
  CompletionBatch::Response response;
  for (const auto& w : r.writes) response.writes.push_back(w.ids);
  return response;
}

TEST(CompletionBatchTest, WritesFirstAndReleasesInTheNextRoundTrip) {
  CompletionBatch b;
  EXPECT_THAT(
      b.Add({Done(1, Outcome::Kind::kDelete), Done(2, Outcome::Kind::kError),
             Done(3, Outcome::Kind::kRelease)},
            1),
      IsEmpty());
  CompletionBatch::Request r = b.Next();
  EXPECT_THAT(Names(r), ElementsAre(std::string("qg_finish_batch"),
                                    std::string("qg_error_batch")));
  EXPECT_THAT(r.unlock, ElementsAre(3));  // nothing to write: release now
  EXPECT_THAT(b.Apply(r, AllWritten(r)), IsEmpty());
  r = b.Next();
  EXPECT_THAT(r.writes, IsEmpty());
  EXPECT_THAT(r.unlock, UnorderedElementsAre(1, 2));
  b.Apply(r, AllWritten(r));
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.Next().empty());
}

TEST(CompletionBatchTest, AFailedStatementIsRetriedRowByRowAndLosesNoRow) {
  CompletionBatch b;
  b.Add({Done(1, Outcome::Kind::kError), Done(2, Outcome::Kind::kError),
         Done(3, Outcome::Kind::kError)},
        1);
  CompletionBatch::Request r = b.Next();
  ASSERT_EQ(r.writes.size(), 1u);
  CompletionBatch::Response failed;
  failed.writes.push_back(absl::InvalidArgumentError("22021: bad bytes"));
  EXPECT_THAT(b.Apply(r, failed), IsEmpty());
  // Nothing released: the outcomes are not durable.
  r = b.Next();
  EXPECT_THAT(r.unlock, IsEmpty());
  ASSERT_EQ(r.writes.size(), 3u);  // one statement per row now
  CompletionBatch::Response mixed;
  mixed.writes.push_back(std::vector<int64_t>{1});
  mixed.writes.push_back(absl::InvalidArgumentError("still bad"));
  mixed.writes.push_back(std::vector<int64_t>{3});
  b.Apply(r, mixed);
  r = b.Next();
  EXPECT_THAT(r.unlock, UnorderedElementsAre(1, 3));
  ASSERT_EQ(r.writes.size(), 1u);
  // The third try of row 2 sends its message as plain ASCII.
  EXPECT_THAT(r.writes[0].call.params[6].value_or(""),
              ::testing::HasSubstr("caf?? failed"));
  CompletionBatch::Response again = AllWritten(r);
  again.writes[0] = absl::InvalidArgumentError("hopeless");
  std::vector<CompletionBatch::GivenUp> given_up = b.Apply(r, again);
  ASSERT_EQ(given_up.size(), 1u);
  EXPECT_EQ(given_up[0].id, 2);
  EXPECT_THAT(given_up[0].why, ::testing::HasSubstr("failed 3 times"));
  EXPECT_THAT(b.Next().unlock, ElementsAre(2));  // released, unrecorded
}

TEST(CompletionBatchTest, RowWhoseKeyChangedIsWrittenById) {
  CompletionBatch b;
  b.Add({Done(1, Outcome::Kind::kDelete), Done(2, Outcome::Kind::kDelete),
         Done(3, Outcome::Kind::kError)},
        1);
  CompletionBatch::Request r = b.Next();
  CompletionBatch::Response response;
  response.writes.push_back(std::vector<int64_t>{1});  // 2 did not match
  response.writes.push_back(std::vector<int64_t>{});   // 3 did not match
  b.Apply(r, response);
  r = b.Next();
  EXPECT_THAT(Names(r), ElementsAre(std::string("qg_finish_by_id"),
                                    std::string("qg_error_by_id")));
  EXPECT_THAT(r.unlock, ElementsAre(1));
  // By id, 2 is gone already (someone deleted it): nothing left to write.
  response.writes = {std::vector<int64_t>{}, std::vector<int64_t>{3}};
  b.Apply(r, response);
  EXPECT_THAT(b.Next().unlock, UnorderedElementsAre(2, 3));
}

TEST(CompletionBatchTest, CompletionsOfAnOlderSessionAreDropped) {
  CompletionBatch b;
  std::vector<Completion> dropped = b.Add(
      {Done(1, Outcome::Kind::kDelete, 1), Done(2, Outcome::Kind::kDelete, 2)},
      2);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].key.id, 1);
  EXPECT_THAT(b.HeldIds(), ElementsAre(2));
  EXPECT_THAT(b.DropAll(), ElementsAre(2));
  EXPECT_TRUE(b.empty());
}

TEST(CompletionBatchTest, AFailedUnlockIsRetried) {
  CompletionBatch b;
  b.Add({Done(7, Outcome::Kind::kRelease)}, 1);
  CompletionBatch::Request r = b.Next();
  CompletionBatch::Response response;
  response.unlock = absl::UnavailableError("broken");
  b.Apply(r, response);
  EXPECT_THAT(b.Next().unlock, ElementsAre(7));
}

// History: writes record it until one says it is off for their queues;
// then the plain forms, until one finds it on again: that one wrote
// nothing, and its rows are written again by key, recording (never by id,
// never counted as failures).
TEST(CompletionBatchTest, PlainWritesWhileHistoryIsOffAndBackWhenItIsOn) {
  CompletionBatch b;
  b.Add({Done(1, Outcome::Kind::kDelete), Done(2, Outcome::Kind::kError)}, 1);
  CompletionBatch::Request r = b.Next();
  EXPECT_THAT(Names(r), ElementsAre(std::string("qg_finish_batch"),
                                    std::string("qg_error_batch")));
  CompletionBatch::Response off = AllWritten(r);
  off.writes[0]->push_back(CompletionBatch::kHistoryOff);
  off.writes[1]->push_back(CompletionBatch::kHistoryOff);
  EXPECT_THAT(b.Apply(r, off), IsEmpty());
  r = b.Next();
  EXPECT_THAT(r.unlock, UnorderedElementsAre(1, 2));
  EXPECT_THAT(b.Apply(r, AllWritten(r)), IsEmpty());

  b.Add({Done(3, Outcome::Kind::kDelete), Done(4, Outcome::Kind::kError)}, 1);
  r = b.Next();
  EXPECT_THAT(Names(r), ElementsAre(std::string("qg_finish_batch_plain"),
                                    std::string("qg_error_batch_plain")));
  CompletionBatch::Response on;
  on.writes.push_back(std::vector<int64_t>{CompletionBatch::kHistoryOn});
  on.writes.push_back(std::vector<int64_t>{CompletionBatch::kHistoryOn});
  EXPECT_THAT(b.Apply(r, on), IsEmpty());
  r = b.Next();
  EXPECT_THAT(r.unlock, IsEmpty());
  EXPECT_THAT(Names(r), ElementsAre(std::string("qg_finish_batch"),
                                    std::string("qg_error_batch")));
  EXPECT_THAT(b.Apply(r, AllWritten(r)), IsEmpty());
  EXPECT_THAT(b.Next().unlock, UnorderedElementsAre(3, 4));
}

}  // namespace
}  // namespace qg::internal
