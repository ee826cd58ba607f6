#include "sim/workload/trace_reader.h"

#include <gtest/gtest.h>

#include <sstream>

#include "sim/core/error.h"
#include "sim/core/limits.h"

namespace quadrant {
namespace {

TEST(TraceReader, AzureSampleIsReadRelativeToTheFirstRequest) {
  auto t = read_trace("scenarios/traces/azure_llm_sample.csv", TraceFormat::kAzure, 1.0);
  ASSERT_EQ(t.size(), 10u);
  EXPECT_EQ(t[0].arrival.ns(), 0);
  EXPECT_EQ(t[0].input_tokens, 374);
  EXPECT_EQ(t[0].output_tokens, 44);
  // 18:15:50.9951690 - 18:15:46.6805900 = 4.314579 s
  EXPECT_EQ(t[1].arrival.ns(), 4314579000);
  // A 100 ns fraction survives: 18:15:56.0000001 - 18:15:46.6805900
  EXPECT_EQ(t[8].arrival.ns(), 9319410100);
  EXPECT_EQ(t[9].output_tokens, 1);
}

TEST(TraceReader, BurstGptAndMooncakeSamples) {
  auto b = read_trace("scenarios/traces/burstgpt_sample.csv", TraceFormat::kBurstGpt, 2.0);
  ASSERT_EQ(b.size(), 8u);
  EXPECT_EQ(b[1].arrival.ns(), 80'000'000'000);  // (45 - 5) s x time_scale 2
  EXPECT_EQ(b[4].arrival.ns(), 311'000'000'000);
  EXPECT_EQ(b[7].output_tokens, 1);  // 0 response tokens -> 1
  auto m = read_trace("scenarios/traces/mooncake_sample.jsonl", TraceFormat::kMooncake, 1.0);
  ASSERT_EQ(m.size(), 7u);
  EXPECT_EQ(m[2].arrival.ns(), 27'482'000'000);  // ms
  EXPECT_EQ(m[4].input_tokens, 12244);
  // hash_ids: one per 512-token block, the first request's 6,955 tokens in 14.
  EXPECT_EQ(m[0].hash_ids.size(), 14u);
  EXPECT_EQ(m[0].hash_ids.front(), 0u);
  EXPECT_EQ(m[0].hash_ids.back(), 13u);
  EXPECT_EQ(m[2].hash_ids, m[0].hash_ids);  // the same prompt again
  auto none = parse_trace("{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n",
                          "m.jsonl", TraceFormat::kMooncake, 1.0);
  EXPECT_TRUE(none.at(0).hash_ids.empty());
  auto empty = parse_trace(
      "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": []}\n",
      "m.jsonl", TraceFormat::kMooncake, 1.0);
  EXPECT_TRUE(empty.at(0).hash_ids.empty());
}

TEST(TraceReader, UnsortedLinesAreReplayedInTimeOrder) {
  auto t = parse_trace("Timestamp,Request tokens,Response tokens\n3,30,3\n1,10,1\n2,20,2\n",
                       "mem.csv", TraceFormat::kBurstGpt, 1.0);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].input_tokens, 10);
  EXPECT_EQ(t[2].arrival.ns(), 2'000'000'000);
}

void expect_error(const std::string& text, TraceFormat f, const std::string& where,
                  const std::string& what) {
  try {
    parse_trace(text, "bad.trace", f, 1.0);
    FAIL() << "no error for: " << text;
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), "bad.trace");
    EXPECT_EQ(e.path(), where) << e.what();
    EXPECT_NE(e.message().find(what), std::string::npos) << e.what();
  }
}

TEST(TraceReader, BadLinesNameTheFileAndLine) {
  expect_error(
      "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,10,2\nyesterday,1,1\n",
      TraceFormat::kAzure, "line 3", "TIMESTAMP");
  expect_error("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,ten,2\n",
               TraceFormat::kAzure, "line 2", "ContextTokens");
  expect_error("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,10\n",
               TraceFormat::kAzure, "line 2", "3 comma-separated fields");
  expect_error("Time,Tokens\n1,2\n", TraceFormat::kBurstGpt, "line 1", "Timestamp");
  expect_error("Timestamp,Request tokens,Response tokens\n1,-5,2\n", TraceFormat::kBurstGpt,
               "line 2", "non-negative");
  expect_error(
      "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n\n"
      "{\"timestamp\": 9, \"input_length\": 5}\n",
      TraceFormat::kMooncake, "line 3", "output_length");
  expect_error("not json\n", TraceFormat::kMooncake, "line 1", "JSON object");
  expect_error(
      "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1, -2]}\n",
      TraceFormat::kMooncake, "line 1", "hash_ids");
  expect_error(
      "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1, 2}\n",
      TraceFormat::kMooncake, "line 1", "hash_ids");
  expect_error("", TraceFormat::kMooncake, "", "at least one request");
}

// A trace is streamed: a long sorted trace goes through while the reader holds at most
// its reordering window (a 10^7-request trace once took 1.39 GB held whole).
TEST(TraceReader, StreamsHoldingOnlyItsReorderWindow) {
  const int n = 3 * static_cast<int>(limits::kTraceReorderWindow);
  std::string text;
  for (int i = 0; i < n; ++i)
    text +=
        "{\"timestamp\": " + std::to_string(i) + ", \"input_length\": 5, \"output_length\": 2}\n";
  TraceReader reader(std::make_unique<std::istringstream>(text), "long.jsonl",
                     TraceFormat::kMooncake, 1.0);
  size_t most = 0;
  int count = 0;
  while (auto r = reader.next()) {
    EXPECT_EQ(r->arrival.ns(), int64_t{count} * 1'000'000);  // Mooncake timestamps are ms
    ++count;
    most = std::max(most, reader.buffered());
  }
  EXPECT_EQ(count, n);
  EXPECT_LE(most, static_cast<size_t>(limits::kTraceReorderWindow) + 1);
}

TEST(TraceReader, TimestampUnitsOfEachFormat) {
  // Azure: dates with a fraction; BurstGPT: seconds; Mooncake: milliseconds.
  auto a = parse_trace(
      "TIMESTAMP,ContextTokens,GeneratedTokens\n2024-05-10 00:00:00.000,1,1\n"
      "2024-05-10 00:00:00.250,1,1\n2024-05-10 00:00:01.5,1,1\n",
      "a.csv", TraceFormat::kAzure, 1.0);
  EXPECT_EQ(a[1].arrival.ns(), 250'000'000);
  EXPECT_EQ(a[2].arrival.ns(), 1'500'000'000);
  auto b = parse_trace("Timestamp,Request tokens,Response tokens\n0.25,1,1\n0.5,1,1\n", "b.csv",
                       TraceFormat::kBurstGpt, 1.0);
  EXPECT_EQ(b[1].arrival.ns(), 250'000'000);
  auto m = parse_trace(
      "{\"timestamp\": 1700000000000, \"input_length\": 1, \"output_length\": 1}\n"
      "{\"timestamp\": 1700000000250, \"input_length\": 1, \"output_length\": 1}\n",
      "m.jsonl", TraceFormat::kMooncake, 1.0);
  EXPECT_EQ(m[1].arrival.ns(), 250'000'000);
}

TEST(TraceReader, LimitsAreErrorsNamingTheLine) {
  // Out of order beyond the window.
  std::string text = "Timestamp,Request tokens,Response tokens\n";
  for (int i = 0; i < limits::kTraceReorderWindow + 10; ++i)
    text += std::to_string(i + 100) + ",1,1\n";
  text += "1,1,1\n";
  expect_error(text, TraceFormat::kBurstGpt,
               "line " + std::to_string(limits::kTraceReorderWindow + 12), "time order");
  // A line over 1 MiB, a date past 2200, a time past the clock, a span past a year.
  expect_error("Timestamp,Request tokens,Response tokens\n1," +
                   std::string(static_cast<size_t>(limits::kMaxTraceLineBytes) + 5, '1') + ",1\n",
               TraceFormat::kBurstGpt, "line 2", "at most 1048576 bytes");
  expect_error("TIMESTAMP,ContextTokens,GeneratedTokens\n9999-12-31 23:59:59,1,1\n",
               TraceFormat::kAzure, "line 2", "TIMESTAMP");
  expect_error("Timestamp,Request tokens,Response tokens\n1e300,1,1\n", TraceFormat::kBurstGpt,
               "line 2", "below 9e18 ns");
  expect_error("Timestamp,Request tokens,Response tokens\n0,1,1\n40000000,1,1\n",
               TraceFormat::kBurstGpt, "line 3", "at most one year");
  expect_error("Timestamp,Request tokens,Response tokens\n0,1e400,1\n", TraceFormat::kBurstGpt,
               "line 2", "Request tokens");
}

TEST(TraceReader, MissingFileIsAnInputError) {
  EXPECT_THROW(read_trace("scenarios/traces/no_such_trace.csv", TraceFormat::kAzure, 1.0),
               InputError);
  EXPECT_THROW(read_trace("scenarios/traces", TraceFormat::kAzure, 1.0), InputError);
}

}  // namespace
}  // namespace quadrant
