#include "sim/io/unit_parse.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/limits.h"

namespace quadrant::io {

namespace {

using UnitTable = std::vector<std::pair<const char*, double>>;

// Splits "3.35 TB/s" into 3.35 and "TB/s"; nullopt if there is no leading number, no
// unit, the number (or number x unit) is not finite and non-negative, or the value is
// outside [min_positive, max] (0 itself is always allowed; fields that need a positive
// value say so).
std::optional<double> scaled(const std::string& text, const UnitTable& units, double min_positive,
                             double max) {
  const char* begin = text.c_str();
  char* end = nullptr;
  double v = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(v) || v < 0) return std::nullopt;
  std::string unit(end);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.erase(0, 1);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.back()))) unit.pop_back();
  for (const auto& [name, factor] : units) {
    if (unit != name) continue;
    const double x = v * factor;
    if (!std::isfinite(x) || x > max || (x > 0 && x < min_positive)) return std::nullopt;
    return x;
  }
  return std::nullopt;
}

const UnitTable kDuration = {{"ns", 1e-9}, {"us", 1e-6},  {"µs", 1e-6}, {"ms", 1e-3},
                             {"s", 1.0},   {"min", 60.0}, {"h", 3600.0}};
const UnitTable kBytes = {{"B", 1.0},         {"KB", 1e3},           {"MB", 1e6},
                          {"GB", 1e9},        {"TB", 1e12},          {"KiB", 1024.0},
                          {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
const UnitTable kBandwidth = {{"B/s", 1.0},      {"KB/s", 1e3},       {"MB/s", 1e6},
                              {"GB/s", 1e9},     {"TB/s", 1e12},      {"Mb/s", 1e6 / 8},
                              {"Gb/s", 1e9 / 8}, {"Gbit/s", 1e9 / 8}, {"Tb/s", 1e12 / 8}};
const UnitTable kFlopRate = {{"FLOP/s", 1.0},   {"GFLOP/s", 1e9}, {"TFLOP/s", 1e12},
                             {"PFLOP/s", 1e15}, {"TOP/s", 1e12},  {"POP/s", 1e15}};

}  // namespace

// Bounds (SI units): see limits.h and unit_ranges(). A duration rounds to whole
// nanoseconds, so anything below 1 ns would silently become 0.
constexpr double kMaxSeconds = static_cast<double>(limits::kMaxDurationNs) * 1e-9;
constexpr double kMaxBytes = 1e15;      // 1000 TB
constexpr double kMinBandwidth = 1e6;   // 1 MB/s
constexpr double kMaxBandwidth = 1e16;  // 10 PB/s
constexpr double kMinFlopRate = 1e9;    // 1 GFLOP/s
constexpr double kMaxFlopRate = 1e21;   // 1 ZFLOP/s

std::optional<Duration> parse_duration(const std::string& text) {
  auto v = scaled(text, kDuration, 1e-9, kMaxSeconds);
  if (!v) return std::nullopt;
  return Duration::seconds(*v);
}
std::optional<Bytes> parse_bytes(const std::string& text) {
  auto v = scaled(text, kBytes, 1.0, kMaxBytes);
  if (!v) return std::nullopt;
  return Bytes(*v);
}
std::optional<BytesPerSec> parse_bandwidth(const std::string& text) {
  auto v = scaled(text, kBandwidth, kMinBandwidth, kMaxBandwidth);
  if (!v) return std::nullopt;
  return BytesPerSec(*v);
}
std::optional<FlopsPerSec> parse_flop_rate(const std::string& text) {
  auto v = scaled(text, kFlopRate, kMinFlopRate, kMaxFlopRate);
  if (!v) return std::nullopt;
  return FlopsPerSec(*v);
}

namespace {

// The shortest "<number><unit>" among `units` (in order of preference) that `parse` reads
// back as exactly `value` (in the unit table's base unit).
// Shorter is better, and a leading "0." counts one more: "300GB/s" over "0.3TB/s".
size_t length(const std::string& text) {
  return text.size() + (text.rfind("0.", 0) == 0 ? 1 : 0);
}

template <typename Parse>
std::string shortest_exact(double value, const std::vector<std::pair<const char*, double>>& units,
                           Parse parse) {
  std::string best;
  for (const auto& [name, factor] : units) {
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, value / factor);
    if (res.ec != std::errc()) continue;
    std::string text = std::string(buf, res.ptr) + name;
    if (parse(text) && (best.empty() || length(text) < length(best))) best = std::move(text);
  }
  // Unreachable for a value the parser accepted in the first place: a bug, not an input.
  if (best.empty()) throw std::logic_error("no exact text for the value " + std::to_string(value));
  return best;
}

// Written units, larger first (ties in length go to the larger one).
const UnitTable kDurationOut = {{"h", 3600.0}, {"min", 60.0}, {"s", 1.0},
                                {"ms", 1e-3},  {"us", 1e-6},  {"ns", 1e-9}};
const UnitTable kBytesOut = {{"TB", 1e12},
                             {"GB", 1e9},
                             {"MB", 1e6},
                             {"KB", 1e3},
                             {"TiB", 1099511627776.0},
                             {"GiB", 1073741824.0},
                             {"MiB", 1048576.0},
                             {"KiB", 1024.0},
                             {"B", 1.0}};
const UnitTable kBandwidthOut = {
    {"TB/s", 1e12}, {"GB/s", 1e9}, {"MB/s", 1e6}, {"KB/s", 1e3}, {"B/s", 1.0}};
const UnitTable kFlopRateOut = {
    {"PFLOP/s", 1e15}, {"TFLOP/s", 1e12}, {"GFLOP/s", 1e9}, {"FLOP/s", 1.0}};

}  // namespace

std::string format_duration(Duration d) {
  // Whole units first: the nanoseconds divided exactly, so "2ms" rather than "0.002s".
  const int64_t ns = d.ns();
  if (ns == 0) return "0s";
  for (const auto& [name, per] :
       std::vector<std::pair<const char*, int64_t>>{{"h", 3'600'000'000'000},
                                                    {"min", 60'000'000'000},
                                                    {"s", 1'000'000'000},
                                                    {"ms", 1'000'000},
                                                    {"us", 1'000}}) {
    if (ns % per != 0) continue;
    std::string text = std::to_string(ns / per) + name;
    if (parse_duration(text) == d) return text;
  }
  return shortest_exact(static_cast<double>(ns) * 1e-9, kDurationOut,
                        [d](const std::string& t) { return parse_duration(t) == d; });
}
std::string format_bytes(Bytes b) {
  return shortest_exact(b.value(), kBytesOut,
                        [b](const std::string& t) { return parse_bytes(t) == b; });
}
std::string format_bandwidth(BytesPerSec b) {
  return shortest_exact(b.value(), kBandwidthOut,
                        [b](const std::string& t) { return parse_bandwidth(t) == b; });
}
std::string format_flop_rate(FlopsPerSec f) {
  return shortest_exact(f.value(), kFlopRateOut,
                        [f](const std::string& t) { return parse_flop_rate(t) == f; });
}

const char* duration_units() {
  return "ns, us, ms, s, min, h";
}
const char* bytes_units() {
  return "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB";
}
const char* bandwidth_units() {
  return "B/s, KB/s, MB/s, GB/s, TB/s, Gb/s, Tb/s";
}
const char* flop_rate_units() {
  return "GFLOP/s, TFLOP/s, PFLOP/s, TOP/s";
}

const char* duration_range() {
  return "0 or 1ns to 8760h, one year";
}
const char* bytes_range() {
  return "0 or 1B to 1000TB";
}
const char* bandwidth_range() {
  return "0 or 1MB/s to 10000TB/s";
}
const char* flop_rate_range() {
  return "0 or 1GFLOP/s to 1e9TFLOP/s";
}

}  // namespace quadrant::io
