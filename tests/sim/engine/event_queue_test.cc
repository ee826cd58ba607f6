#include "sim/engine/event_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

#include "sim/core/random.h"

namespace quadrant {
namespace {

Event at(int64_t ns, EventPhase phase, uint64_t payload) {
  Event e;
  e.time = SimTime::from_ns(ns);
  e.phase = phase;
  e.payload = payload;
  return e;
}

TEST(EventQueue, OrdersByTimeThenPhaseThenInsertion) {
  EventQueue q;
  q.push(at(10, EventPhase::kLaunch, 0));
  q.push(at(10, EventPhase::kCompletion, 1));
  q.push(at(5, EventPhase::kObserver, 2));
  q.push(at(10, EventPhase::kCompletion, 3));
  q.push(at(10, EventPhase::kArrival, 4));
  std::vector<uint64_t> order;
  while (!q.empty()) order.push_back(q.pop().payload);
  EXPECT_EQ(order, (std::vector<uint64_t>{2, 1, 3, 4, 0}));
}

// Against a reference: a stable sort by (time, phase) of everything pushed, minus the
// cancelled events, for many random interleavings of pushes, pops and cancels. Pushes
// land up to `spread` ns after the last pop: a small spread puts most of them at the
// instant being processed (the queue's per-phase FIFOs), a large one in its heap.
TEST(EventQueue, MatchesStableSortReferenceUnderRandomPushPopCancel) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const int64_t spread = seed % 2 == 0 ? 50 : 1;
    RandomStream rng(seed, "queue");
    EventQueue q;
    struct Ref {
      int64_t t;
      int phase;
      uint64_t seq;
      bool cancelled;
    };
    std::vector<Ref> pending;
    int64_t now = 0;
    for (int op = 0; op < 3000; ++op) {
      const double u = rng.uniform();
      if (u < 0.55) {
        const int64_t t = now + rng.uniform_int(0, spread);
        const int phase = static_cast<int>(rng.uniform_int(0, 4));
        EventId id = q.push(at(t, static_cast<EventPhase>(phase), 0));
        pending.push_back({t, phase, id, false});
      } else if (u < 0.65 && !pending.empty()) {
        Ref& r = pending[static_cast<size_t>(
            rng.uniform_int(0, static_cast<int64_t>(pending.size()) - 1))];
        if (!r.cancelled) {
          r.cancelled = true;
          q.cancel(r.seq);
        }
      } else {
        std::erase_if(pending, [](const Ref& r) { return r.cancelled; });
        ASSERT_EQ(q.empty(), pending.empty());
        if (pending.empty()) continue;
        auto best =
            std::min_element(pending.begin(), pending.end(), [](const Ref& a, const Ref& b) {
              return std::tie(a.t, a.phase, a.seq) < std::tie(b.t, b.phase, b.seq);
            });
        Event e = q.pop();
        ASSERT_EQ(e.seq, best->seq);
        ASSERT_EQ(e.time.ns(), best->t);
        now = e.time.ns();  // the clock never runs backwards: later pushes are >= now
        pending.erase(best);
      }
    }
  }
}

TEST(EventQueue, CancellingAPoppedEventIsHarmless) {
  EventQueue q;
  EventId a = q.push(at(1, EventPhase::kCompletion, 7));
  EXPECT_EQ(q.pop().payload, 7u);
  q.cancel(a);
  q.push(at(2, EventPhase::kCompletion, 8));
  // The stale cancellation of id `a` must not swallow the new event.
  ASSERT_FALSE(q.empty());
  EXPECT_EQ(q.pop().payload, 8u);
}

}  // namespace
}  // namespace quadrant
