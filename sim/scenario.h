// Scenario: everything one run needs, as plain structs. sim/io parses and validates a
// scenario file into this once, at the edge; nothing past that point sees JSON.
//
//   Scenario s = load_scenario("scenarios/default.json");   // sim/io/scenario_io.h
//   s.serving.decode.layout.tp;                             // 8
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/enum_names.h"
#include "sim/core/units.h"
#include "sim/hardware/hardware.h"
#include "sim/model/expert_placement.h"
#include "sim/model/layout.h"
#include "sim/model/model_spec.h"

namespace quadrant {

// ---- workload -------------------------------------------------------------------------

enum class ArrivalProcess { kPoisson, kGamma, kDeterministic, kDiurnal, kTrace };
inline constexpr EnumNames<ArrivalProcess, 5> kArrivalProcessNames{
    {{{ArrivalProcess::kPoisson, "poisson"},
      {ArrivalProcess::kGamma, "gamma"},
      {ArrivalProcess::kDeterministic, "deterministic"},
      {ArrivalProcess::kDiurnal, "diurnal"},
      {ArrivalProcess::kTrace, "trace"}}}};
inline const char* to_string(ArrivalProcess v) {
  return kArrivalProcessNames.name(v);
}

enum class TraceFormat { kAzure, kBurstGpt, kMooncake };
inline constexpr EnumNames<TraceFormat, 3> kTraceFormatNames{
    {{{TraceFormat::kAzure, "azure"},
      {TraceFormat::kBurstGpt, "burstgpt"},
      {TraceFormat::kMooncake, "mooncake"}}}};
inline const char* to_string(TraceFormat v) {
  return kTraceFormatNames.name(v);
}

struct RatePoint {
  Duration at;          // offset into the (repeating) curve
  double rate_per_s{};  // arrival rate from `at` until the next point
  bool operator==(const RatePoint&) const = default;
};

struct ArrivalSpec {
  ArrivalProcess process = ArrivalProcess::kPoisson;
  double rate_per_s = 1.0;       // mean rate (poisson, gamma, deterministic)
  double cv = 1.0;               // gamma: coefficient of variation of inter-arrival times
  std::vector<RatePoint> curve;  // diurnal: piecewise-constant rate, repeats every period
  Duration curve_period = Duration::seconds(86400);
  std::string trace_file;  // trace: path resolved against the scenario's folder
  TraceFormat trace_format = TraceFormat::kAzure;
  double trace_time_scale = 1.0;  // >1 stretches the trace (lower load)
  int64_t trace_requests = 0;     // trace: its requests and span, found at the edge
  Duration trace_span;
  bool operator==(const ArrivalSpec&) const = default;
};

enum class LengthDistribution { kFixed, kUniform, kLognormal, kHistogram };
inline constexpr EnumNames<LengthDistribution, 4> kLengthDistributionNames{
    {{{LengthDistribution::kFixed, "fixed"},
      {LengthDistribution::kUniform, "uniform"},
      {LengthDistribution::kLognormal, "lognormal"},
      {LengthDistribution::kHistogram, "histogram"}}}};
inline const char* to_string(LengthDistribution v) {
  return kLengthDistributionNames.name(v);
}

struct LengthSpec {
  LengthDistribution distribution = LengthDistribution::kFixed;
  int64_t value = 512;  // fixed
  int64_t min = 1;      // uniform bounds; clamps for lognormal
  int64_t max = 1 << 20;
  double median = 512;                           // lognormal: exp(mu)
  double sigma = 1.0;                            // lognormal: sd of log(length)
  std::vector<std::pair<int64_t, double>> bins;  // histogram: (length, weight)
  double mean() const;
  bool operator==(const LengthSpec&) const = default;
};

struct WorkloadSpec {
  ArrivalSpec arrival;
  LengthSpec input_length;
  LengthSpec output_length;
  Duration duration = Duration::seconds(600);  // arrivals stop after this
  int64_t max_requests = 0;                    // 0: no cap
  Duration warmup = Duration::zero();          // requests arriving earlier are not scored
  // Requests arriving at or after this are not scored either (zero: no end). The
  // planner's probes set it so that arrivals go on past the scored ones (not an input).
  Duration scored_until = Duration::zero();
  ExpertPopularity expert_popularity;  // MoE routing skew (uniform unless given)
  bool operator==(const WorkloadSpec&) const = default;
};

// ---- SLOs -----------------------------------------------------------------------------

struct SloSpec {
  Duration ttft = Duration::seconds(2);
  Duration tpot = Duration::millis(50);
  double ttft_percentile = 90;  // the report checks P<percentile> against the target
  double tpot_percentile = 90;
  double attainment = 0.9;  // fraction of requests that must meet both targets
  bool operator==(const SloSpec&) const = default;
};

// ---- serving --------------------------------------------------------------------------

enum class Role { kPrefill, kDecode, kColocated };
inline constexpr EnumNames<Role, 3> kRoleNames{
    {{{Role::kPrefill, "prefill"}, {Role::kDecode, "decode"}, {Role::kColocated, "colocated"}}}};
inline const char* to_string(Role v) {
  return kRoleNames.name(v);
}

enum class ServingMode { kDisaggregated, kColocated };
inline constexpr EnumNames<ServingMode, 2> kServingModeNames{
    {{{ServingMode::kDisaggregated, "disaggregated"}, {ServingMode::kColocated, "colocated"}}}};
inline const char* to_string(ServingMode v) {
  return kServingModeNames.name(v);
}

// A prefix (KV) cache of whole blocks keyed by the trace's block hashes (Mooncake's
// hash_ids), one LRU cache per instance of a prefilling pool, in a share of the
// instance's KV memory (that share is taken from its KV cache for requests in flight).
struct PrefixCacheSpec {
  double memory_fraction = 0;  // of the instance's KV memory; 0: no block cache
  int block_tokens = 512;      // prompt tokens per hash id (Mooncake's traces: 512)
  bool operator==(const PrefixCacheSpec&) const = default;
};

// Attention/FFN disaggregation (MegaScale-Infer): an instance is a unit of two pools,
// its attention GPUs (the pool's gpu and layout: tp x dp_attention data-parallel
// replicas, holding the KV cache) and `ffn_gpus` GPUs of `ffn_gpu` holding the experts
// (expert parallel). Each step's batch is cut into `micro_batches` that ping-pong
// between the two pools layer by layer, the M:N token dispatch and combine crossing
// the network between them (cost/af_pipeline.h). Prefill or decode pools.
struct AfSpec {
  std::string ffn_gpu;  // catalog key; empty: attention and experts share the GPUs
  int ffn_gpus = 0;     // expert-parallel GPUs per instance; 0: not disaggregated
  int micro_batches = 3;
  bool enabled() const { return ffn_gpus > 0; }
  bool operator==(const AfSpec&) const = default;
};

// A shared KV tier beside the prefilling instances' own caches (Mooncake's store: pooled
// CPU memory over RDMA): every computed prompt's blocks are written to it (LRU, its
// capacity in the prefilling pool's blocks), and a prompt whose own instance misses
// blocks that the tier holds loads them instead of computing them, over the tier's
// bandwidth (one pipe for the cluster: loads queue behind each other) plus its latency,
// before its prefill starts. Needs a block prefix cache (PrefixCacheSpec) on the
// prefilling pool: the tier is found by the same block hashes.
struct SharedKvTierSpec {
  Bytes capacity;  // zero: no shared tier
  BytesPerSec bandwidth = BytesPerSec::giga(50);
  Duration latency = Duration::micros(20);
  bool enabled() const { return capacity.value() > 0; }
  bool operator==(const SharedKvTierSpec&) const = default;
};

struct PoolSpec {
  std::string gpu;  // catalog key (the attention pool's, with af_disaggregated)
  int instances = 1;
  Layout layout;
  int max_batch_size = 256;         // sequences per step (decode, colocated)
  int64_t max_batch_tokens = 8192;  // token budget per step (prefill chunking)
  int64_t chunk_size = 2048;        // prefill chunk per sequence
  int64_t kv_capacity_tokens = 0;   // KV cache per instance; 0: what memory leaves
  ExpertPlacementSpec experts;      // redundant experts and the rebalancer (MoE)
  bool dual_micro_batch = false;    // overlap expert communication with compute (MoE)
  // Share of each prompt found in the prefix (KV) cache of a prefilling pool (prefill,
  // colocated): whole KV blocks, at least one token left to compute. Hits take KV room
  // like computed tokens and cost nothing to bring in (an assumption).
  double prefix_hit_rate = 0;
  PrefixCacheSpec prefix_cache;  // block-hash reuse (prefill, colocated)
  // Share of each prompt, past its prefix_hit_rate share, that the shared KV tier holds
  // for requests without block hashes: loaded over the tier as hashed hits are. The
  // planner's runs carry the tier's replayed hits with it (not an input).
  double shared_tier_hit_rate = 0;
  AfSpec af;  // attention/FFN disaggregation (prefill, decode)
  // GPUs of one instance: the layout's, and the FFN pool's with af_disaggregated.
  int gpus_per_instance() const { return layout.gpus() + af.ffn_gpus; }
  bool operator==(const PoolSpec&) const = default;
};

struct SpeculativeSpec {
  bool enabled = false;
  int draft_length = 3;            // k
  double acceptance_rate = 0.7;    // a, per drafted token
  double draft_cost_ratio = 0.05;  // cost of one draft step against one target step
  // Tokens one verify step yields per sequence on average: the accepted drafts are a run
  // of successes of probability a, at most k, and the verify step adds one of its own,
  // (1 - a^(k+1)) / (1 - a); 1 when disabled.
  double expected_tokens_per_step() const;
  bool operator==(const SpeculativeSpec&) const = default;
};

// kCacheAware: the instance whose block cache holds the longest prefix of the prompt,
// ties to the least queued prompt tokens (then the least KV occupancy).
enum class PrefillRouting { kLeastTokens, kRoundRobin, kCacheAware };
inline constexpr EnumNames<PrefillRouting, 3> kPrefillRoutingNames{
    {{{PrefillRouting::kLeastTokens, "least_tokens"},
      {PrefillRouting::kRoundRobin, "round_robin"},
      {PrefillRouting::kCacheAware, "cache_aware"}}}};
inline const char* to_string(PrefillRouting v) {
  return kPrefillRoutingNames.name(v);
}
enum class DecodeRouting { kLeastKv, kRoundRobin };
inline constexpr EnumNames<DecodeRouting, 2> kDecodeRoutingNames{
    {{{DecodeRouting::kLeastKv, "least_kv"}, {DecodeRouting::kRoundRobin, "round_robin"}}}};
inline const char* to_string(DecodeRouting v) {
  return kDecodeRoutingNames.name(v);
}

struct AutoscalerSpec {
  bool enabled = false;
  Duration interval = Duration::seconds(10);
  Duration provisioning_delay = Duration::seconds(60);
  double prefill_queue_tokens_high = 16384;  // per instance: scale up above
  double decode_utilization_high = 0.85;     // KV occupancy: scale up above
  double low_watermark = 0.3;                // scale down below (fraction of the high mark)
  int min_instances = 1;
  int max_instances = 64;
  bool operator==(const AutoscalerSpec&) const = default;
};

struct ServingSpec {
  ServingMode mode = ServingMode::kDisaggregated;
  PoolSpec prefill;
  PoolSpec decode;
  PoolSpec colocated;
  int kv_block_size = 16;              // tokens per paged-KV block
  bool kv_transfer_layerwise = false;  // stream KV per layer, overlapped with prefill
  SharedKvTierSpec shared_kv_tier;
  double min_kv_fraction = 0.1;  // planner: KV must get at least this share of memory
  PrefillRouting prefill_routing = PrefillRouting::kLeastTokens;
  DecodeRouting decode_routing = DecodeRouting::kLeastKv;
  SpeculativeSpec speculative;
  AutoscalerSpec autoscaler;
  // Disaggregated: every arrival enters the decode pool with its prompt done (its first
  // token at arrival, no prefill); it waits for KV room, then its KV crosses the network
  // from the prefill pool's first instance, which takes no request (a stand-in source: the
  // decode instance's links carry the transfers as in the whole cluster). The planner's
  // decode probes (issue 16): the decode instance alone, whatever prefill instances a
  // plan has. Not a scenario key.
  bool prefilled_arrivals = false;
  bool operator==(const ServingSpec&) const = default;
};

// ---- search and costs -----------------------------------------------------------------

enum class Objective { kMinCost, kMinGpus, kMaxGoodputPerDollar };
inline constexpr EnumNames<Objective, 3> kObjectiveNames{
    {{{Objective::kMinCost, "min_cost"},
      {Objective::kMinGpus, "min_gpus"},
      {Objective::kMaxGoodputPerDollar, "max_goodput_per_dollar"}}}};
inline const char* to_string(Objective v) {
  return kObjectiveNames.name(v);
}

// Attention/FFN-disaggregated instances the planner tries (AfSpec), for each role of
// `roles` (prefill, decode): every attention GPU x attention tp x replicas x FFN GPU x
// FFN size x micro-batches (x the role's batch or chunk limits).
struct AfSearchSpec {
  std::vector<Role> roles{Role::kDecode};   // MegaScale-Infer's: decode
  std::vector<std::string> attention_gpus;  // empty: the role's GPUs
  std::vector<std::string> ffn_gpus;        // empty: none tried
  std::vector<int> attention_tp{1};
  std::vector<int> attention_replicas{4, 8};
  std::vector<int> ffn_sizes{8, 16, 32};
  std::vector<int> micro_batches{2, 3, 4};
  bool enabled() const { return !ffn_gpus.empty(); }
  bool operator==(const AfSearchSpec&) const = default;
};

// Which confirmed plan the planner recommends (issue 12): robust, the cheapest that also
// meets the SLOs with every cost estimate at the pessimistic edge of its error band;
// nominal, the cheapest at the nominal costs.
enum class RecommendRule { kRobust, kNominal };
inline constexpr EnumNames<RecommendRule, 2> kRecommendRuleNames{
    {{{RecommendRule::kRobust, "robust"}, {RecommendRule::kNominal, "nominal"}}}};
inline const char* to_string(RecommendRule v) {
  return kRecommendRuleNames.name(v);
}

struct SearchSpec {
  std::vector<std::string> prefill_gpus;  // empty: the serving section's gpu
  std::vector<std::string> decode_gpus;
  std::vector<int> tp{1, 2, 4, 8};
  std::vector<int> ep{1, 2, 4, 8};
  std::vector<int> pp{1};
  std::vector<int> max_batch_size{64, 128, 256};
  std::vector<int64_t> chunk_size{2048};
  // Speculative (MTP) draft lengths to try on decoding instances, 0 meaning none, at
  // serving.speculative's acceptance rate and draft cost; empty: the serving section's.
  std::vector<int> draft_lengths;
  // MoE roles whose pool places its experts by EPLB: redundant-expert counts to try per
  // configuration (each must divide experts + redundant over the expert GPUs, else that
  // configuration is infeasible); empty: the serving section's count, as is.
  std::vector<int> redundant_experts;
  AfSearchSpec af;
  int max_instances_per_role = 64;
  bool include_colocated = true;
  Objective objective = Objective::kMinCost;
  double budget_usd_per_hour = 0;  // kMaxGoodputPerDollar: spend at most this
  double target_rate_per_s = 0;    // 0: the workload's mean arrival rate
  int seeds = 3;                   // whole-cluster confirmations per finalist
  int finalists = 3;
  double headroom = 0.1;    // the plan must meet the SLOs at target rate * (1 + headroom)
  bool n_plus_one = false;  // ... and at the target rate with one instance per pool down
  RecommendRule recommend = RecommendRule::kRobust;
  bool operator==(const SearchSpec&) const = default;
};

struct CostsSpec {
  std::map<std::string, double> usd_per_hour;  // overrides the catalog's prices
  bool operator==(const CostsSpec&) const = default;
};

// A published deployment of the same service that the plan is compared with (the report
// only: nothing is planned from it), e.g. DeepSeek-V3's 226.75 nodes a day on average.
struct ReferenceSpec {
  std::string source;        // where the figures come from
  double nodes = 0;          // nodes in all; 0: no reference
  double prefill_nodes = 0;  // of them prefill (0: not published)
  double decode_nodes = 0;
  bool enabled() const { return nodes > 0; }
  bool operator==(const ReferenceSpec&) const = default;
};

struct Scenario {
  std::string name;
  std::string file;  // where it was loaded from
  // Every file the scenario was read from (itself, includes, trace, calibrated models):
  // outputs may never overwrite them (sim/io/output_dir.h).
  std::vector<std::string> input_files;
  uint64_t seed = 1;
  ModelSpec model;
  HardwareCatalog catalog;
  ClusterSpec cluster;
  WorkloadSpec workload;
  SloSpec slo;
  ServingSpec serving;
  SearchSpec search;
  CostsSpec costs;
  ReferenceSpec reference;

  double price_per_hour(const std::string& gpu) const;
  bool operator==(const Scenario&) const = default;
};

}  // namespace quadrant
