#include "sim/planner/progress.h"

#include <cmath>
#include <cstdio>
#include <ostream>

namespace quadrant::planner {

double Progress::steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

Progress::Progress(std::string label, int64_t total, std::ostream* out, Clock clock)
    : label_(std::move(label)), total_(total), out_(out), clock_(std::move(clock)) {
  start_ = clock_();
}

Progress::~Progress() {
  finish();
}

void Progress::add_total(int64_t more) {
  std::lock_guard lock(mutex_);
  total_ += more;
}

void Progress::advance(int64_t done) {
  std::lock_guard lock(mutex_);
  done_ += done;
  draw();
}

void Progress::finish() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (out_ != nullptr) {
    last_draw_ = -1;
    draw();
    *out_ << '\n';
    out_->flush();
  }
}

std::string Progress::line() const {
  constexpr int kWidth = 30;
  const double fraction = total_ > 0 ? std::min(1.0, double(done_) / double(total_)) : 1.0;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(filled, '#');
  bar += std::string(kWidth - filled, '.');
  char tail[96];
  const double elapsed = clock_() - start_;
  if (done_ > 0 && done_ < total_) {
    const double left = elapsed / double(done_) * double(total_ - done_);
    std::snprintf(tail, sizeof tail, "  %lld/%lld  ~%.0fs left", static_cast<long long>(done_),
                  static_cast<long long>(total_), std::ceil(left));
  } else {
    std::snprintf(tail, sizeof tail, "  %lld/%lld  %.1fs", static_cast<long long>(done_),
                  static_cast<long long>(total_), elapsed);
  }
  return "[" + bar + "]" + tail;
}

void Progress::draw() {
  if (out_ == nullptr) return;
  const double now = clock_();
  // Redraw at most ten times a second; a terminal is slower than the planner.
  if (last_draw_ >= 0 && now - last_draw_ < 0.1 && done_ < total_) return;
  last_draw_ = now;
  *out_ << "\r" << label_ << " " << line() << "   ";
  out_->flush();
}

}  // namespace quadrant::planner
