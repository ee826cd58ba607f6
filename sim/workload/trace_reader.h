// Readers of the public LLM-serving trace formats, for trace replay. A trace is streamed
// line by line, never held whole (a 10^7-request trace once took 1.39 GB as text held
// three times): requests come out in arrival order, times relative to the first request
// and multiplied by the scenario's time_scale (>1 stretches the trace: lower load).
//
// - Azure LLM inference trace (CSV): TIMESTAMP,ContextTokens,GeneratedTokens with
//   timestamps as "2023-11-16 18:15:46.6805900".
// - BurstGPT (CSV): Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
//   with timestamps in seconds.
// - Mooncake (JSONL): {"timestamp": ms, "input_length": n, "output_length": n,
//   "hash_ids": [...]} one object per line; hash_ids (optional) are kept for the prefix
//   cache (serving.<pool>.prefix_cache).
// Columns are found by header name, so extra columns are fine. Lines slightly out of
// order are sorted within a window of limits::kTraceReorderWindow lines; a line earlier
// than requests already replayed, a bad line, a line over limits::kMaxTraceLineBytes,
// more than limits::kMaxRequests requests or a span over one year are InputErrors
// naming the file and the line.
//
//   TraceReader t("azure_conv.csv", TraceFormat::kAzure, 1.0);
//   while (auto r = t.next()) replay(*r);
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/units.h"
#include "sim/scenario.h"

namespace quadrant {

struct TraceRecord {
  SimTime arrival;
  int32_t input_tokens = 0;
  int32_t output_tokens = 0;
  // Mooncake: the prompt's block hashes in order (one per block of the trace's block
  // size, 512 tokens in Mooncake's traces; equal prefixes have equal leading hashes).
  // Empty for the other formats and for lines without hash_ids.
  std::vector<uint64_t> hash_ids = {};
};

class TraceReader {
 public:
  // Opens the file (InputError if it cannot) and reads a CSV header.
  TraceReader(const std::string& path, TraceFormat format, double time_scale);
  // A stream's text (tests); `file` only names the source in errors.
  TraceReader(std::unique_ptr<std::istream> in, const std::string& file, TraceFormat format,
              double time_scale);
  ~TraceReader();
  TraceReader(TraceReader&&) noexcept;
  TraceReader& operator=(TraceReader&&) noexcept;

  // The next request in arrival order, or nothing at the end (InputError on a bad line,
  // and on an empty trace at the first call).
  std::optional<TraceRecord> next();
  // Records held for reordering (at most limits::kTraceReorderWindow + 1).
  size_t buffered() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// What a whole pass over a trace finds (every line checked): validate and the planner
// use it without keeping the requests.
struct TraceSummary {
  int64_t requests = 0;
  Duration span;  // last arrival - first, after time_scale
  double mean_input_tokens = 0, mean_output_tokens = 0;
  // The lengths as histograms of (length, count): exact up to 256 tokens, then buckets
  // 1% wide holding their mean length (at most ~1,400 bins whatever the trace's size),
  // so that the planner's synthetic workloads draw the trace's lengths.
  std::vector<std::pair<int64_t, double>> input_bins, output_bins;
};
TraceSummary scan_trace(const std::string& path, TraceFormat format, double time_scale);

// Whole traces in memory, for tests and small files.
std::vector<TraceRecord> read_trace(const std::string& path, TraceFormat format, double time_scale);
std::vector<TraceRecord> parse_trace(const std::string& text, const std::string& file,
                                     TraceFormat format, double time_scale);

}  // namespace quadrant
