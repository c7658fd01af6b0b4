#include "qg/worker/wake_source.h"

#include "gtest/gtest.h"
#include "qg/testing/fake_clock.h"

namespace qg::internal {
namespace {

TEST(ParseJobsNotificationTest, ReadsRunAtPriorityAndQueue) {
  auto n = ParseJobsNotification("1795932000.5:7\tmail\tq");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->run_at, absl::FromUnixMillis(1795932000500));
  EXPECT_EQ(n->priority, 7);
  EXPECT_EQ(n->queue, "mail\tq");  // a queue name may hold tabs
}

TEST(ParseJobsNotificationTest, OlderPayloadWithoutPriority) {
  auto n = ParseJobsNotification("1795932000\t");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->queue, "");
  EXPECT_FALSE(n->priority.has_value());
}

TEST(ParseJobsNotificationTest, RejectsGarbage) {
  for (const char* bad :
       {"", "no tab", "x\tq", "1:x\tq", "1:99999\tq", "nan\tq", "inf\tq"}) {
    EXPECT_FALSE(ParseJobsNotification(bad).has_value()) << bad;
  }
}

TEST(WakeSourceTest, WakeBeforeWaitReturnsAtOnceAndIsCleared) {
  WakeSource w;
  ASSERT_TRUE(w.status().ok());
  qg_testing::FakeClock clock;
  w.Wake();
  w.Wake();
  EXPECT_EQ(w.Wait(-1, absl::InfiniteFuture(), clock),
            WakeSource::Event::kWoken);
  // Cleared: a past deadline now times out.
  EXPECT_EQ(w.Wait(-1, clock.Now(), clock), WakeSource::Event::kDeadline);
}

}  // namespace
}  // namespace qg::internal
