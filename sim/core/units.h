// Units as value types: the vocabulary every part of Quadrant computes costs in.
//
// Simulated time is integer nanoseconds (deterministic ordering, no float drift over a
// long run); a point in time (SimTime) and a span (Duration) are different types. Sizes
// and rates are doubles wrapped in types that only allow the arithmetic that makes
// sense: Bytes / BytesPerSec -> Duration, Flops / FlopsPerSec -> Duration.
//
// Every conversion from a double to nanoseconds is checked: a time that is not finite or
// does not fit the int64 clock (±292 years) throws an InputError naming its value instead
// of wrapping to a wrong one (1e300 s once became -292 years). The scenario edge keeps
// inputs within sim/core/limits.h, so a valid scenario never reaches that error.
//
//   Duration t = Bytes::giga(80) / BytesPerSec::tera(3.35);   // ~23.9 ms
#pragma once

#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>
#include <string>

#include "sim/core/error.h"

namespace quadrant {

namespace units_detail {
// Nanoseconds that fit the clock with room to spare (2^63 is about 9.223e18).
inline constexpr double kMaxNs = 9.2e18;
[[noreturn]] inline void time_out_of_range(double ns) {
  throw InputError("a time of " + std::to_string(ns * 1e-9) +
                   " s is outside the simulator's clock (int64 nanoseconds, about ±292 years); "
                   "a rate, bandwidth or efficiency is too small for the sizes it moves");
}
// Integer clock arithmetic, checked: one predictable branch each.
constexpr int64_t add(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    time_out_of_range(static_cast<double>(a) + static_cast<double>(b));
  return r;
}
constexpr int64_t sub(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r))
    time_out_of_range(static_cast<double>(a) - static_cast<double>(b));
  return r;
}
constexpr int64_t mul(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    time_out_of_range(static_cast<double>(a) * static_cast<double>(b));
  return r;
}
// Rounds to whole nanoseconds, checked (also catches NaN).
constexpr int64_t checked_ns(double ns) {
  if (!(ns > -kMaxNs && ns < kMaxNs)) time_out_of_range(ns);
  return static_cast<int64_t>(ns);
}
}  // namespace units_detail

// A span of simulated time, in integer nanoseconds.
class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration nanos(int64_t ns) { return Duration(ns); }
  static constexpr Duration micros(double us) { return Duration(round_ns(us * 1e3)); }
  static constexpr Duration millis(double ms) { return Duration(round_ns(ms * 1e6)); }
  static constexpr Duration seconds(double s) { return Duration(round_ns(s * 1e9)); }
  static constexpr Duration zero() { return Duration(0); }
  static constexpr Duration infinite() { return Duration(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t ns() const { return ns_; }
  constexpr double to_seconds() const { return static_cast<double>(ns_) * 1e-9; }
  constexpr double to_millis() const { return static_cast<double>(ns_) * 1e-6; }
  constexpr double to_micros() const { return static_cast<double>(ns_) * 1e-3; }

  constexpr Duration operator+(Duration o) const { return Duration(units_detail::add(ns_, o.ns_)); }
  constexpr Duration operator-(Duration o) const { return Duration(units_detail::sub(ns_, o.ns_)); }
  constexpr Duration& operator+=(Duration o) {
    ns_ = units_detail::add(ns_, o.ns_);
    return *this;
  }
  constexpr Duration& operator-=(Duration o) {
    ns_ = units_detail::sub(ns_, o.ns_);
    return *this;
  }
  constexpr Duration operator*(int64_t k) const { return Duration(units_detail::mul(ns_, k)); }
  constexpr Duration scaled(double k) const {
    return Duration(round_ns(static_cast<double>(ns_) * k));
  }
  constexpr double operator/(Duration o) const {
    return static_cast<double>(ns_) / static_cast<double>(o.ns_);
  }
  constexpr auto operator<=>(const Duration&) const = default;

 private:
  constexpr explicit Duration(int64_t ns) : ns_(ns) {}
  static constexpr int64_t round_ns(double ns) {
    return units_detail::checked_ns(ns >= 0 ? ns + 0.5 : ns - 0.5);
  }
  int64_t ns_ = 0;
};

constexpr Duration max(Duration a, Duration b) {
  return a < b ? b : a;
}
constexpr Duration min(Duration a, Duration b) {
  return a < b ? a : b;
}

// A point on the simulation clock, nanoseconds since the start of the run.
class SimTime {
 public:
  constexpr SimTime() = default;
  static constexpr SimTime from_ns(int64_t ns) { return SimTime(ns); }
  static constexpr SimTime start() { return SimTime(0); }
  static constexpr SimTime never() { return SimTime(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t ns() const { return ns_; }
  constexpr double to_seconds() const { return static_cast<double>(ns_) * 1e-9; }

  constexpr SimTime operator+(Duration d) const { return SimTime(units_detail::add(ns_, d.ns())); }
  constexpr SimTime& operator+=(Duration d) {
    ns_ = units_detail::add(ns_, d.ns());
    return *this;
  }
  constexpr Duration operator-(SimTime o) const {
    return Duration::nanos(units_detail::sub(ns_, o.ns_));
  }
  constexpr auto operator<=>(const SimTime&) const = default;

 private:
  constexpr explicit SimTime(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

// A CRTP base for double-valued quantities that add, subtract, scale and compare.
template <typename Derived>
class Quantity {
 public:
  constexpr double value() const { return v_; }
  constexpr Derived operator+(Derived o) const { return Derived(v_ + o.v_); }
  constexpr Derived operator-(Derived o) const { return Derived(v_ - o.v_); }
  constexpr Derived& operator+=(Derived o) {
    v_ += o.v_;
    return static_cast<Derived&>(*this);
  }
  constexpr Derived operator*(double k) const { return Derived(v_ * k); }
  constexpr Derived operator/(double k) const { return Derived(v_ / k); }
  constexpr double operator/(Derived o) const { return v_ / o.v_; }
  constexpr auto operator<=>(const Quantity&) const = default;

 protected:
  constexpr Quantity() = default;
  constexpr explicit Quantity(double v) : v_(v) {}

 private:
  friend Derived;
  double v_ = 0;
};

class Bytes : public Quantity<Bytes> {
 public:
  constexpr Bytes() = default;
  constexpr explicit Bytes(double v) : Quantity(v) {}
  static constexpr Bytes giga(double g) { return Bytes(g * 1e9); }
  static constexpr Bytes gibi(double g) { return Bytes(g * 1073741824.0); }
  constexpr double to_gb() const { return value() * 1e-9; }
};

class Flops : public Quantity<Flops> {
 public:
  constexpr Flops() = default;
  constexpr explicit Flops(double v) : Quantity(v) {}
  constexpr double to_tflop() const { return value() * 1e-12; }
};

class BytesPerSec : public Quantity<BytesPerSec> {
 public:
  constexpr BytesPerSec() = default;
  constexpr explicit BytesPerSec(double v) : Quantity(v) {}
  static constexpr BytesPerSec giga(double g) { return BytesPerSec(g * 1e9); }
  static constexpr BytesPerSec tera(double t) { return BytesPerSec(t * 1e12); }
};

class FlopsPerSec : public Quantity<FlopsPerSec> {
 public:
  constexpr FlopsPerSec() = default;
  constexpr explicit FlopsPerSec(double v) : Quantity(v) {}
  static constexpr FlopsPerSec tera(double t) { return FlopsPerSec(t * 1e12); }
};

constexpr Bytes operator*(double k, Bytes b) {
  return b * k;
}
constexpr Flops operator*(double k, Flops f) {
  return f * k;
}

// Time to move or compute at a rate, rounded up to whole nanoseconds so that no
// non-zero work takes zero time.
inline Duration operator/(Bytes b, BytesPerSec r) {
  return Duration::nanos(units_detail::checked_ns(std::ceil(b.value() / r.value() * 1e9)));
}
inline Duration operator/(Flops f, FlopsPerSec r) {
  return Duration::nanos(units_detail::checked_ns(std::ceil(f.value() / r.value() * 1e9)));
}
inline BytesPerSec operator/(Bytes b, Duration d) {
  return BytesPerSec(b.value() / d.to_seconds());
}
inline FlopsPerSec operator/(Flops f, Duration d) {
  return FlopsPerSec(f.value() / d.to_seconds());
}

}  // namespace quadrant
