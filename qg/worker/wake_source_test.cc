#include "qg/worker/wake_source.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"
#include "qg/clock.h"
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

// Wake-ups while one is pending are one write; none is lost: a waker that
// changes state and then wakes is always seen by a waiter that looks at the
// state after each Wait() (the locker's loop). A lost wake-up would leave
// the waiter asleep until its deadline.
TEST(WakeSourceTest, CoalescedWakeUpsAreNeverLost) {
  WakeSource w;
  ASSERT_TRUE(w.status().ok());
  qg_testing::FakeClock fake;
  w.Wake();
  EXPECT_EQ(w.Wait(-1, absl::InfiniteFuture(), fake),
            WakeSource::Event::kWoken);
  w.Wake();  // after a Wait() took the last one: written again
  EXPECT_EQ(w.Wait(-1, fake.Now(), fake), WakeSource::Event::kWoken);
  EXPECT_EQ(w.Wait(-1, fake.Now(), fake), WakeSource::Event::kDeadline);

  constexpr int kWakes = 200000;
  std::atomic<int> changed{0};
  std::thread waker([&] {
    for (int i = 0; i < kWakes; ++i) {
      changed.fetch_add(1);
      w.Wake();
    }
  });
  int seen = 0, timeouts = 0;
  while (seen < kWakes) {
    seen = changed.load();
    if (seen == kWakes) break;
    if (w.Wait(-1, absl::Now() + absl::Seconds(10), qg::RealClock()) ==
        WakeSource::Event::kDeadline) {
      ++timeouts;
    }
  }
  waker.join();
  EXPECT_EQ(timeouts, 0) << "a wake-up was lost";
}

}  // namespace
}  // namespace qg::internal
