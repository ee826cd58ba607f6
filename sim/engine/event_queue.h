// The pending-event set of the simulation: events ordered by (time, phase, insertion
// sequence), so that equal times resolve the same way on every run and platform.
//
// Events are small POD records (32 bytes) dispatched by the simulation with a switch on
// `kind`; nothing is allocated or called through a type-erased function per event. The
// queue sits behind the small interface below (push / pop / cancel / empty) so that
// another structure (a calendar queue, a ladder queue) can replace it. It is a binary
// heap, O(log n) per push and pop, plus a FIFO per phase for events pushed for the
// instant being processed (a step completing at t launches the next step at t): those
// need no heap operation, since within a phase and an instant insertion order is event
// order. Pop takes the least of the heap's top and the FIFOs' fronts. Memory grows with
// pending events only. (A 4-ary heap was tried: more comparisons, slower at the ~150
// pending events of the simulator's benchmark.)
//
//   EventQueue q;
//   EventId id = q.push({.time = SimTime::from_ns(5), .phase = EventPhase::kArrival, ...});
//   q.cancel(id);                  // lazily skipped when it reaches the top
//   while (!q.empty()) { Event e = q.pop(); switch (e.kind) { ... } }
#pragma once

#include <cstdint>
#include <unordered_set>
#include <vector>

#include "sim/core/units.h"

namespace quadrant {

// Phases order events of equal time. Completions come first so that a scheduling
// decision at time t sees every resource freed at t; arrivals come before scheduling so
// that a step launched at t sees every request that arrived at t; the autoscaler
// decides after the work of the instant is placed; observers (sampling) see the result.
enum class EventPhase : uint8_t {
  kCompletion = 0,  // a step or a KV transfer ends
  kArrival = 1,     // a request arrives
  kLaunch = 2,      // an instance forms and launches its next step
  kControl = 3,     // autoscaler decisions, instances coming up
  kObserver = 4,    // sampling for metrics
};
inline constexpr size_t kEventPhases = static_cast<size_t>(EventPhase::kObserver) + 1;

using EventId = uint64_t;

struct Event {
  SimTime time;
  EventPhase phase = EventPhase::kCompletion;
  uint8_t kind = 0;     // the simulation's own enumeration
  uint32_t target = 0;  // instance, transfer or pool index
  uint64_t payload = 0;
  EventId seq = 0;  // set by push: the insertion sequence, also the event's id
};

class EventQueue {
 public:
  // Schedules an event; returns its id for cancel().
  EventId push(Event e) {
    e.seq = next_seq_++;
    // The FIFOs hold one instant's events: the last popped one's, while they are in use.
    if (fifo_events_ == 0 ? e.time == last_popped_ : e.time == fifo_time_) {
      fifo_time_ = e.time;
      fifo_[static_cast<size_t>(e.phase)].push_back(e);
      ++fifo_events_;
    } else {
      heap_.push_back(e);
      sift_up(heap_.size() - 1);
    }
    return e.seq;
  }

  // The event will not be returned by pop(). Cancelling an event already popped or
  // cancelled is a no-op.
  void cancel(EventId id) { cancelled_.insert(id); }

  bool empty() {
    skip_cancelled();
    return heap_.empty() && fifo_events_ == 0;
  }

  // The earliest live event. Precondition: !empty().
  Event pop() {
    skip_cancelled();
    const int f = least_fifo();
    Event top;
    if (f >= 0 && (heap_.empty() || before(fifo_front(f), heap_.front()))) {
      top = fifo_front(f);
      pop_fifo(f);
    } else {
      top = heap_.front();
      remove_top();
    }
    last_popped_ = top.time;
    return top;
  }

  size_t size() const { return heap_.size() + fifo_events_; }
  uint64_t pushed() const { return next_seq_; }

 private:
  static bool before(const Event& a, const Event& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.phase != b.phase) return a.phase < b.phase;
    return a.seq < b.seq;
  }
  static constexpr size_t kPhases = kEventPhases;
  const Event& fifo_front(int f) const {
    return fifo_[static_cast<size_t>(f)][fifo_head_[static_cast<size_t>(f)]];
  }
  void pop_fifo(int f) {
    const size_t p = static_cast<size_t>(f);
    if (++fifo_head_[p] == fifo_[p].size()) {
      fifo_[p].clear();
      fifo_head_[p] = 0;
    }
    --fifo_events_;
  }
  // The phase FIFO whose front comes first, -1 if all are empty.
  int least_fifo() const {
    if (fifo_events_ == 0) return -1;
    for (size_t p = 0; p < kPhases; ++p)
      if (fifo_head_[p] < fifo_[p].size()) return static_cast<int>(p);  // one instant
    return -1;
  }
  void skip_cancelled() {
    // Cancellations are rare: the set is usually empty and this costs one branch.
    while (!cancelled_.empty()) {
      const int f = least_fifo();
      const bool from_fifo = f >= 0 && (heap_.empty() || before(fifo_front(f), heap_.front()));
      if (!from_fifo && heap_.empty()) return;
      auto it = cancelled_.find(from_fifo ? fifo_front(f).seq : heap_.front().seq);
      if (it == cancelled_.end()) return;
      cancelled_.erase(it);
      if (from_fifo) {
        pop_fifo(f);
      } else {
        remove_top();
      }
    }
  }
  void remove_top() {
    heap_.front() = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) sift_down(0);
  }
  void sift_up(size_t i) {
    Event e = heap_[i];
    while (i > 0) {
      size_t parent = (i - 1) / 2;
      if (!before(e, heap_[parent])) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = e;
  }
  void sift_down(size_t i) {
    const size_t n = heap_.size();
    Event e = heap_[i];
    for (;;) {
      size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
      if (!before(heap_[child], e)) break;
      heap_[i] = heap_[child];
      i = child;
    }
    heap_[i] = e;
  }

  std::vector<Event> heap_;
  std::vector<Event> fifo_[kPhases];
  size_t fifo_head_[kPhases] = {};
  size_t fifo_events_ = 0;
  SimTime fifo_time_, last_popped_ = SimTime::never();
  std::unordered_set<EventId> cancelled_;
  EventId next_seq_ = 0;
};

}  // namespace quadrant
