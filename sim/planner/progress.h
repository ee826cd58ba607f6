// A progress bar with the time left, drawn on stderr. The clock is injected so that
// tests can drive it; the planner passes the steady clock.
//
//   Progress p("plan", total, &std::cerr);
//   p.advance(1);   // "\r plan [#######.......]  12/30  ~8s left"
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <string>

namespace quadrant::planner {

class Progress {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic
  // out may be null: nothing is drawn.
  Progress(std::string label, int64_t total, std::ostream* out, Clock clock = steady_seconds);
  ~Progress();
  // Adds work found on the way (the planner learns of confirmation rounds late).
  void add_total(int64_t more);
  void advance(int64_t done = 1);
  void finish();
  // "[####....]  12/30  ~8s left" for the current state (also what is drawn).
  std::string line() const;

  static double steady_seconds();

 private:
  void draw();
  std::string label_;
  int64_t total_ = 0;
  int64_t done_ = 0;
  std::ostream* out_ = nullptr;
  Clock clock_;
  double start_ = 0;
  double last_draw_ = -1;
  bool finished_ = false;
  mutable std::mutex mutex_;
};

}  // namespace quadrant::planner
