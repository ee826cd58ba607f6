// The limits Quadrant is built for, written down once. Inputs past them get a clear
// InputError at the edge (sim/io, the trace reader, the CLI) instead of running out of
// memory, overflowing a nanosecond clock or taking hours; scenarios/README.md lists them.
//
// Where each comes from (measured on the 1M-request benchmark, sim/README.md): a request
// in flight costs ~144 B and a scored one 16 B of results (+ ~48 B with requests.csv),
// so kMaxRequests bounds results at ~1.3 GB; a simulated GPU costs its topology
// vertices, links and route tables, which grow faster than linearly in the GPU count
// (10^4 GPUs took 1.25 GB), so kMaxGpus stays well under that.
#pragma once

#include <cstdint>

namespace quadrant::limits {

// Requests one simulation generates or replays (arrivals, trace lines).
inline constexpr int64_t kMaxRequests = 20'000'000;
// GPUs of one simulated cluster (all pools, every instance) and of one node.
inline constexpr int64_t kMaxGpus = 4096;
inline constexpr int64_t kMaxGpusPerNode = 1024;
// Tokens of one request (prompt or output) and one step's token budget.
inline constexpr int64_t kMaxTokens = 10'000'000;
// Any duration in a scenario: one year. Simulated time is int64 nanoseconds (±292
// years), so sums of in-range durations cannot overflow the clock.
inline constexpr int64_t kMaxDurationNs = 365LL * 24 * 3600 * 1'000'000'000;
// Integers in JSON: exactly representable as a double (2^53).
inline constexpr int64_t kMaxJsonInteger = int64_t{1} << 53;
// JSON input files (scenario, includes, calibration models): size and nesting depth.
inline constexpr int64_t kMaxJsonFileBytes = 64LL << 20;
inline constexpr int kMaxJsonDepth = 64;
// One line of a trace file; out-of-order trace lines are sorted within this window.
inline constexpr int64_t kMaxTraceLineBytes = 1 << 20;
inline constexpr int64_t kTraceReorderWindow = 1 << 16;

}  // namespace quadrant::limits
