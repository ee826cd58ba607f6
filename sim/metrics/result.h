// What a simulation run returns: the run's summary (requests, latency percentiles, SLO
// attainment, goodput, cost), one summary per instance, and optionally every request.
// Plain values; the writers at the output edge (the CLI, the planner's reports) turn them
// into files.
//
//   SimulationResult r = simulate(scenario, models, {.seed = 7});   // engine/simulation.h
//   r.summary.ttft.p90;  r.summary.slo_attainment;  r.instances[0].utilization;
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/scenario.h"

namespace quadrant {

// Latency percentiles by nearest rank. An SLO may name any percentile: the one it names
// when that is none of 50, 90 and 99 (P95, P99.9) is computed beside them, so that every
// SLO is judged on its own percentile, exactly.
struct Percentiles {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;  // seconds
  double slo_percentile = 0;  // the SLO's own percentile when not 50/90/99; 0: none
  double at_slo_percentile = 0;
  // The value at `percentile`: p50, p90, p99 or the SLO's own (0 for every percentile of
  // a summary never filled). Any other is an internal error: results are scored where
  // the SLO is known (metrics.h's RequestMetrics).
  double at(double percentile) const;
  bool operator==(const Percentiles&) const = default;
};

// "P90", "P95", "P99.9": a percentile's name in reports, columns and JSON keys ("p95").
std::string percentile_name(double percentile);

// Per request, compact (the benchmark runs a million of them).
struct RequestRecord {
  uint64_t id = 0;
  double arrival_s = 0;
  int32_t input_tokens = 0;
  int32_t output_tokens = 0;
  float ttft_s = 0, tpot_s = 0, e2e_s = 0, queue_s = 0;
  bool rejected = false;
};

struct InstanceSummary {
  std::string name;  // "prefill[0]"
  Role role = Role::kPrefill;
  std::string gpu;
  int gpus = 0;
  double utilization = 0;      // busy time / lifetime
  double mean_batch_size = 0;  // sequences per step
  double mean_batch_tokens = 0;
  double mean_kv_occupancy = 0;  // decode/colocated: fraction of KV capacity in use
  double peak_kv_occupancy = 0;
  int64_t steps = 0;
  int64_t preemptions = 0;
  // Attention/FFN disaggregation (ffn_gpus > 0; gpu and gpus are the attention pool's):
  // the FFN pool, and each pool's working time over the instance's lifetime.
  std::string ffn_gpu;
  int ffn_gpus = 0;
  double attention_utilization = 0, ffn_utilization = 0;
  // (time s, value) samples for plots: KV occupancy and batch size over time
  std::vector<std::pair<double, double>> kv_occupancy_series;
  std::vector<std::pair<double, double>> batch_size_series;
};

struct SimulationSummary {
  int64_t requests_arrived = 0;
  int64_t requests_finished = 0;
  int64_t requests_rejected = 0;
  int64_t requests_scored = 0;  // finished after warm-up
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  Percentiles ttft, tpot, e2e, queueing;
  double slo_attainment = 0;  // fraction of scored requests meeting TTFT and TPOT
  // Over one measurement window, warm-up to the last arrival, counting the requests that
  // finish inside it (sim/metrics/metrics.h): goodput those meeting both SLOs, throughput
  // all of them, output tokens/s their output tokens; so goodput <= throughput.
  double goodput_rps = 0;
  double throughput_rps = 0;
  double output_tokens_per_s = 0;
  double duration_s = 0;  // simulated time until the last request finished
  double gpu_hours = 0;
  double usd = 0;
  double usd_per_hour = 0;
  double usd_per_million_tokens = 0;  // input + output tokens
  int prefill_gpus = 0, decode_gpus = 0, colocated_gpus = 0;
  // Where the step costs came from, e.g. {"H100-SXM": "fitted:calibration/models/h100.json"}.
  std::map<std::string, std::string> cost_sources;
  int64_t events = 0;  // events popped from the queue and dispatched (benchmark)
  // Block prefix cache (serving.<pool>.prefix_cache): prompt tokens of the requests routed
  // to a pool with one, and those found cached (not computed). Both 0 without one.
  int64_t prefix_cache_prompt_tokens = 0, prefix_cache_hit_tokens = 0;
  // Shared KV tier (serving.shared_kv_tier): prompt tokens loaded from it (part of the
  // hit tokens above) and the loads' mean time, queueing for its bandwidth included.
  int64_t shared_tier_hit_tokens = 0, shared_tier_loads = 0;
  double shared_tier_load_mean_s = 0;
  // The engine's own accounting of per-request memory (benchmark, memory tests): live
  // state grows with requests in flight, results with requests scored.
  int64_t peak_live_requests = 0;  // requests in flight at once, at most
  int64_t live_request_bytes = 0;  // peak bytes of per-request live state (slab entries)
  int64_t result_bytes = 0;        // compact results kept for the percentiles (4 B each)
  // Why requests were rejected: "kv_capacity" (cannot fit any instance's KV cache),
  // "unfinished" (still in flight at the drain limit).
  std::map<std::string, int64_t> rejections;
  int64_t preemptions = 0;
  int64_t kv_transfers = 0;
  double kv_transfer_mean_s = 0;  // start to landing, per transfer
};

struct SimulationResult {
  SimulationSummary summary;
  std::vector<InstanceSummary> instances;
  std::vector<RequestRecord> requests;  // only with keep_requests
};

}  // namespace quadrant
