// Readers of the public LLM-serving trace formats, for trace replay. Each returns the
// trace's requests in arrival order, times relative to the first request and multiplied
// by the scenario's time_scale (>1 stretches the trace: lower load).
//
// - Azure LLM inference trace (CSV): TIMESTAMP,ContextTokens,GeneratedTokens with
//   timestamps as "2023-11-16 18:15:46.6805900".
// - BurstGPT (CSV): Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
//   with timestamps in seconds.
// - Mooncake (JSONL): {"timestamp": ms, "input_length": n, "output_length": n,
//   "hash_ids": [...]} one object per line.
// Columns are found by header name, so extra columns are fine. A bad line is an
// InputError naming the file and the line.
//
//   std::vector<TraceRecord> t = read_trace("azure_conv.csv", TraceFormat::kAzure, 1.0);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/units.h"
#include "sim/scenario.h"

namespace quadrant {

struct TraceRecord {
  SimTime arrival;
  int32_t input_tokens = 0;
  int32_t output_tokens = 0;
};

std::vector<TraceRecord> read_trace(const std::string& path, TraceFormat format, double time_scale);

// Parsers of one stream's text, for tests; `file` only names the source in errors.
std::vector<TraceRecord> parse_trace(const std::string& text, const std::string& file,
                                     TraceFormat format, double time_scale);

}  // namespace quadrant
