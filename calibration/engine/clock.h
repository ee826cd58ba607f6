// The serving engine's clock, injected so that one scheduler runs in real time on the
// GPU and in virtual time in tests and re-simulation.
// - WallClock: std::chrono::steady_clock; sleep_until sleeps; a step's time passes by
//   itself while the executor works.
// - VirtualClock: time moves only when the driver sleeps until an arrival or when a step
//   ran (by the executor's wall_ns: for a cost-model executor, its predicted step time).
//
//   VirtualClock clock;
//   EngineRun run = run_engine(scenario, requests, executor, clock, {});
#pragma once

#include <chrono>
#include <thread>

#include "calibration/engine/step.h"
#include "sim/core/units.h"

namespace quadrant::engine {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SimTime now() = 0;
  virtual void sleep_until(SimTime t) = 0;
  // A step has returned from the executor with these times.
  virtual void step_ran(const StepTiming& timing) = 0;
};

class WallClock : public Clock {
 public:
  SimTime now() override {
    return SimTime::from_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count());
  }
  void sleep_until(SimTime t) override {
    std::this_thread::sleep_until(std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::nanoseconds(t.ns()))));
  }
  void step_ran(const StepTiming&) override {}
};

class VirtualClock : public Clock {
 public:
  SimTime now() override { return now_; }
  void sleep_until(SimTime t) override { now_ = std::max(now_, t); }
  void step_ran(const StepTiming& timing) override { now_ += Duration::nanos(timing.wall_ns); }

 private:
  SimTime now_ = SimTime::start();
};

}  // namespace quadrant::engine
