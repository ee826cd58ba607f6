#include "sim/planner/work_queue.h"

#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>

#include "sim/planner/progress.h"

namespace quadrant::planner {
namespace {

TEST(WorkQueueTest, ResultsAreInIndexOrderForAnyThreadCount) {
  for (int threads : {1, 2, 3, 8, 64}) {
    const auto r = parallel_map<size_t>(100, threads, [](size_t i) { return i * i; });
    ASSERT_EQ(r.size(), 100u);
    for (size_t i = 0; i < r.size(); ++i) EXPECT_EQ(r[i], i * i) << threads;
  }
  EXPECT_TRUE(parallel_map<int>(0, 4, [](size_t) { return 1; }).empty());
}

TEST(WorkQueueTest, AnExceptionIsRethrownToTheCaller) {
  EXPECT_THROW(parallel_map<int>(50, 4,
                                 [](size_t i) -> int {
                                   if (i == 17) throw std::runtime_error("boom");
                                   return 0;
                                 }),
               std::runtime_error);
}

TEST(ProgressTest, ShowsCountsAndTimeLeftFromTheInjectedClock) {
  double now = 100;
  std::ostringstream out;
  Progress p("plan", 10, &out, [&now] { return now; });
  now = 104;
  p.advance(4);  // 1 s per item, 6 left
  EXPECT_NE(p.line().find("4/10"), std::string::npos);
  EXPECT_NE(p.line().find("~6s left"), std::string::npos);
  p.add_total(2);
  EXPECT_NE(p.line().find("4/12"), std::string::npos);
  p.finish();
  EXPECT_NE(out.str().find("plan ["), std::string::npos);
}

}  // namespace
}  // namespace quadrant::planner
