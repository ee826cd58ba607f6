#include "sim/io/schema.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "sim/core/limits.h"
#include "sim/scenario.h"

namespace quadrant::io {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Bounds of the scenario's integers and numbers (see sim/core/limits.h for the why).
constexpr double kTokens = static_cast<double>(limits::kMaxTokens);
constexpr double kGpus = static_cast<double>(limits::kMaxGpus);
constexpr double kDim = 1 << 20;   // model dimensions, heads, ranks
constexpr double kDegree = 1024;   // a parallel degree (TP, EP, PP, DP)
constexpr double kMaxRate = 1e9;   // req/s: a gap of 1 ns
constexpr double kMaxPrice = 1e6;  // USD per GPU-hour

class Builder {
 public:
  explicit Builder(std::vector<FieldDecl>& out) : out_(out) {}

  FieldDecl& add(std::string path, FieldType type, std::string def, std::string help) {
    FieldDecl f;
    f.path = std::move(path);
    f.type = type;
    f.default_value = std::move(def);
    f.help = std::move(help);
    out_.push_back(std::move(f));
    return out_.back();
  }
  void object(const std::string& p, const std::string& def, const std::string& help) {
    add(p, FieldType::kObject, def, help);
  }
  void str(const std::string& p, const std::string& def, const std::string& help) {
    add(p, FieldType::kString, def, help);
  }
  void boolean(const std::string& p, const std::string& def, const std::string& help) {
    add(p, FieldType::kBoolean, def, help);
  }
  // Integer in [min, max] (max: limits::kMaxJsonInteger unless a field says less).
  void integer(const std::string& p, const std::string& def, double min, const std::string& help,
               double max = static_cast<double>(limits::kMaxJsonInteger)) {
    FieldDecl& f = add(p, FieldType::kInteger, def, help);
    f.min = min;
    f.max = max;
  }
  void number(const std::string& p, const std::string& def, double min, double max,
              bool min_exclusive, const std::string& unit, const std::string& help) {
    FieldDecl& f = add(p, FieldType::kNumber, def, help);
    f.min = min;
    f.max = max;
    f.min_exclusive = min_exclusive;
    f.unit = unit;
  }
  void fraction(const std::string& p, const std::string& def, const std::string& help) {
    number(p, def, 0, 1, true, "", help);
  }
  void dimensional(const std::string& p, FieldType t, const std::string& def,
                   const std::string& help) {
    add(p, t, def, help).min = 0;
  }
  void choice(const std::string& p, const std::string& def, std::vector<std::string> choices,
              const std::string& help) {
    add(p, FieldType::kEnum, def, help).choices = std::move(choices);
  }
  void array(const std::string& p, const std::string& def, const std::string& help) {
    add(p, FieldType::kArray, def, help);
  }
  void map(const std::string& p, const std::string& def, const std::string& help) {
    add(p, FieldType::kMap, def, help);
  }

 private:
  std::vector<FieldDecl>& out_;
};

void declare_length(Builder& b, const std::string& p, const std::string& what) {
  b.object(p, "required", what + " length distribution");
  b.choice(p + ".distribution", "required", kLengthDistributionNames.names(),
           "shape of the distribution");
  b.integer(p + ".value", "required for fixed", 1, "fixed: every request has this many tokens",
            kTokens);
  b.integer(p + ".min", "1", 1, "uniform: lower bound; lognormal: values below are clamped",
            kTokens);
  b.integer(p + ".max", "1048576", 1, "uniform: upper bound; lognormal: values above are clamped",
            kTokens);
  b.number(p + ".median", "required for lognormal", 0, kTokens, true, "tokens",
           "lognormal: median, exp(mu)");
  b.number(p + ".sigma", "required for lognormal", 0, 10, true, "",
           "lognormal: standard deviation of ln(length)");
  b.array(p + ".bins", "required for histogram",
          "histogram: [[length, weight], ...]; a length is drawn with probability weight/sum");
}

void declare_pool(Builder& b, const std::string& p, const std::string& role) {
  b.object(p, "required for " + role, "the " + role + " pool: GPU type, layout, batch limits");
  b.str(p + ".gpu", "required", "GPU type, a key of hardware.gpus");
  b.integer(p + ".instances", "1", 1, "number of instances in the pool", kGpus);
  b.object(p + ".layout", "", "parallel layout of one instance; GPUs = tp * pp * dp_attention");
  b.integer(p + ".layout.tp", "1", 1, "tensor-parallel degree (attention heads, dense FFN)",
            kDegree);
  b.integer(p + ".layout.ep", "1", 1, "expert-parallel degree; divides tp * dp_attention", kDegree);
  b.integer(p + ".layout.pp", "1", 1, "pipeline stages (Chunk-PP for prefill)", kDegree);
  b.integer(p + ".layout.dp_attention", "1", 1, "data-parallel attention replicas (MLA models)",
            kDegree);
  b.integer(p + ".max_batch_size", "256", 1, "most sequences in one step", 1e6);
  b.integer(p + ".max_batch_tokens", "8192", 1, "token budget of one step (prefill chunking)",
            kTokens);
  b.integer(p + ".chunk_size", "2048", 1, "most prompt tokens of one sequence in one step",
            kTokens);
  b.integer(p + ".kv_capacity", "0", 0,
            "KV cache tokens per instance (a measured engine's); 0: what memory leaves", 1e12);
  b.object(p + ".experts", "",
           "MoE expert placement over the instance's expert-parallel GPUs (with "
           "af_disaggregated: its FFN GPUs)");
  b.integer(p + ".experts.redundant", "0", 0,
            "redundant expert replicas over the instance (EPLB: copies of the hottest experts)",
            4096);
  b.choice(p + ".experts.rebalancer", "none", kRebalancerNames.names(),
           "none: experts in id order, experts / GPUs each; eplb: DeepSeek's EPLB (replicate "
           "the hottest, pack replicas by load); eplb needs experts + redundant divisible by "
           "tp * dp_attention (with af_disaggregated: by ffn_gpus)");
  b.number(p + ".prefix_hit_rate", "0", 0, 1, false, "",
           "share of each prompt found in the prefix (KV) cache, prefilling pools only (prefill, "
           "colocated): whole KV blocks, at least one token computed; hits take KV room and "
           "are not computed");
  b.object(p + ".prefix_cache", "",
           "block-hash prefix (KV) cache per instance, prefilling pools only, fed by a mooncake "
           "trace's hash_ids: the longest cached prefix of each prompt is not computed");
  b.number(p + ".prefix_cache.memory_fraction", "0", 0, 0.99, false, "",
           "share of the instance's KV memory holding cached blocks (LRU), taken from the KV "
           "cache of requests in flight (0: no block cache)");
  b.integer(p + ".prefix_cache.block_tokens", "512", 1,
            "prompt tokens per hash id (Mooncake's traces: 512)", kTokens);
  b.boolean(p + ".dual_micro_batch", "false",
            "MoE: split each step into two micro-batches whose expert dispatch/combine runs "
            "under the other's compute (DeepSeek's overlap)");
  if (role == "colocated mode") return;  // attention and experts share a colocated pool's GPUs
  b.object(p + ".af_disaggregated", "",
           "MoE: attention/FFN disaggregation (MegaScale-Infer); gpu "
           "and layout (ep 1, pp 1) are the attention GPUs of one instance, the experts live "
           "on ffn_gpus GPUs of ffn_gpu, micro-batches ping-pong between the two");
  b.str(p + ".af_disaggregated.ffn_gpu", "required", "GPU type of the FFN (expert) pool");
  b.integer(p + ".af_disaggregated.ffn_gpus", "required", 1,
            "expert-parallel GPUs of one instance's FFN pool", kGpus);
  b.integer(p + ".af_disaggregated.micro_batches", "3", 1,
            "micro-batches each step is cut into, shuttled between the pools", 64);
}

std::vector<FieldDecl> build() {
  std::vector<FieldDecl> f;
  Builder b(f);
  b.str("name", "\"scenario\"", "name shown in reports");
  b.str("description", "", "free text shown in reports");
  b.integer("seed", "1", 0, "seed of every random stream of the run");

  // ---- model
  b.object("model", "required", "the served model (often an include of scenarios/models/*.json)");
  b.str("model.name", "required", "model name");
  b.str("model.source", "", "where the figures come from");
  b.str("model.notes", "", "assumptions made where figures are not public");
  b.integer("model.num_layers", "required", 1, "transformer layers", 4096);
  b.integer("model.hidden_size", "required", 1, "hidden (model) dimension", kDim);
  b.integer("model.vocab_size", "required", 1, "vocabulary size", 1e8);
  b.boolean("model.tie_embeddings", "false", "LM head shares the input embedding");
  b.object("model.attention", "required", "attention block");
  b.choice("model.attention.kind", "required", kAttentionKindNames.names(),
           "multi-head, grouped-query or multi-head latent attention");
  b.integer("model.attention.num_heads", "required", 1, "query heads", kDim);
  b.integer("model.attention.num_kv_heads", "required for gqa", 1,
            "key/value heads (mha: equal to num_heads)", kDim);
  b.integer("model.attention.head_dim", "required for mha and gqa", 1, "head dimension", kDim);
  b.integer("model.attention.q_lora_rank", "0", 0, "mla: query latent rank (0: no latent)", kDim);
  b.integer("model.attention.kv_lora_rank", "required for mla", 1, "mla: KV latent rank", kDim);
  b.integer("model.attention.qk_nope_head_dim", "required for mla", 1,
            "mla: query/key head dim without RoPE", kDim);
  b.integer("model.attention.qk_rope_head_dim", "required for mla", 1,
            "mla: decoupled RoPE key dim (cached beside the latent)", kDim);
  b.integer("model.attention.v_head_dim", "required for mla", 1, "mla: value head dim", kDim);
  b.object("model.ffn", "required", "feed-forward block");
  b.choice("model.ffn.kind", "required", kFfnKindNames.names(),
           "dense gated MLP, mixture of experts, or UltraMem memory layers");
  b.integer("model.ffn.intermediate_size",
            "required for dense, ultramem, and moe with leading dense layers", 1,
            "intermediate size of the dense gated MLP", kDim * 16);
  b.integer("model.ffn.num_experts", "required for moe", 1, "routed experts per MoE layer", 65536);
  b.integer("model.ffn.top_k", "required for moe", 1, "experts each token is routed to", 65536);
  b.integer("model.ffn.num_shared_experts", "0", 0, "experts every token goes through", 65536);
  b.integer("model.ffn.expert_intermediate_size", "required for moe", 1,
            "intermediate size of one expert", kDim * 16);
  b.integer("model.ffn.shared_expert_intermediate_size", "0", 0,
            "intermediate size of a shared expert (0: expert_intermediate_size)", kDim * 16);
  b.integer("model.ffn.first_dense_layers", "0", 0, "leading layers with a dense FFN", 4096);
  b.integer("model.ffn.memory_layer_interval", "required for ultramem", 1,
            "ultramem: a memory layer every this many layers", 4096);
  b.integer("model.ffn.num_values", "required for ultramem", 1, "ultramem: rows of a value table",
            1e12);
  b.integer("model.ffn.value_dim", "required for ultramem", 1, "ultramem: width of a value row",
            kDim);
  b.integer("model.ffn.top_k_values", "required for ultramem", 1,
            "ultramem: value rows each token gathers", kDim);
  b.integer("model.ffn.num_memory_heads", "1", 1, "ultramem: memory heads", 1024);
  b.object("model.precision", "", "number formats");
  b.choice("model.precision.weights", "bf16", kNumberFormatNames.names(),
           "weights of linear layers (w4a8: 4-bit weights, 8-bit activations)");
  // W4A8 is a weight format only.
  b.choice("model.precision.activations", "bf16", kNumberFormatNames.names({NumberFormat::kW4A8}),
           "activations");
  b.choice("model.precision.kv_cache", "bf16", kNumberFormatNames.names({NumberFormat::kW4A8}),
           "KV cache entries");
  b.integer("model.precision.weight_group_size", "128", 1, "w4a8: weights sharing one scale", kDim);
  b.map("model.sources", "",
        "where each field came from: the config key read, or the default taken and why "
        "(written by quadrant import-model)");
  b.str("model.sources.*", "", "the source of one field, by its path under model");

  // ---- hardware
  b.object("hardware", "required",
           "catalog of GPU types (often an include of scenarios/hardware/)");
  b.str("hardware.source", "", "where the catalog's figures come from");
  b.map("hardware.gpus", "required", "GPU types by name");
  const std::string g = "hardware.gpus.*";
  b.object(g, "", "one GPU type");
  b.str(g + ".description", "", "full product name");
  b.dimensional(g + ".memory", FieldType::kBytes, "required", "HBM capacity");
  b.dimensional(g + ".memory_bandwidth", FieldType::kBandwidth, "required", "HBM bandwidth");
  b.dimensional(g + ".bf16", FieldType::kFlopRate, "required", "dense BF16 tensor peak");
  b.dimensional(g + ".fp8", FieldType::kFlopRate, "0FLOP/s", "dense FP8 tensor peak (0: none)");
  b.dimensional(g + ".int8", FieldType::kFlopRate, "0FLOP/s", "dense INT8 tensor peak (0: none)");
  b.dimensional(g + ".nvlink_bandwidth", FieldType::kBandwidth, "0GB/s",
                "NVLink bandwidth per GPU, one direction (0: PCIe only)");
  b.dimensional(g + ".nic_bandwidth", FieldType::kBandwidth, "50GB/s",
                "network bandwidth per GPU, one direction");
  b.number(g + ".usd_per_hour", "required", 0, kMaxPrice, true, "USD/h",
           "typical price of one GPU-hour");
  b.number(g + ".compute_efficiency", "0.7", 0.01, 1, false, "",
           "roofline: achievable fraction of the tensor peak");
  b.number(g + ".memory_efficiency", "0.8", 0.01, 1, false, "",
           "roofline: achievable fraction of HBM bandwidth");
  b.dimensional(g + ".kernel_overhead", FieldType::kDuration, "4us",
                "roofline: fixed cost per quadrant kernel launch");
  b.dimensional(g + ".reserved_memory", FieldType::kBytes, "4GB",
                "memory kept for context, activations and fragmentation");
  b.str(g + ".calibrated", "",
        "fitted cost-model file (calibration/models/), relative to this file");
  b.str(g + ".source", "", "public source of the figures");
  b.number(g + ".power_watts", "0", 0, 1e5, false, "W",
           "board power (TDP) from the datasheet (0: not known); reports sum it per plan");
  b.map("hardware.power_caps", "",
        "power-capped GPU types by name, each a copy of a catalog type held to a power cap: "
        "tensor peaks scaled by the cap's clock factor, HBM bandwidth, links and memory kept");
  const std::string pc = "hardware.power_caps.*";
  b.object(pc, "", "one power-capped GPU type");
  b.str(pc + ".gpu", "required", "the capped GPU type, a key of hardware.gpus");
  b.number(pc + ".watts", "required", 0, 1e5, true, "W",
           "the power cap (at most the type's power_watts when that is known)");
  b.number(pc + ".clock_factor", "required", 0, 1, true, "",
           "SM clock under the cap / uncapped (measured or assumed: say which in source)");
  b.number(pc + ".usd_per_hour", "", 0, kMaxPrice, true, "USD/h",
           "price of one GPU-hour under the cap (absent: the capped type's)");
  b.str(pc + ".source", "", "where the clock factor comes from");

  // ---- cluster
  b.object("cluster", "", "how GPUs are connected");
  b.integer("cluster.gpus_per_node", "8", 1, "GPUs sharing one NVLink domain",
            static_cast<double>(limits::kMaxGpusPerNode));
  b.object("cluster.intra_node", "", "GPU-to-GPU link inside a node");
  b.dimensional("cluster.intra_node.bandwidth", FieldType::kBandwidth, "450GB/s", "per direction");
  b.dimensional("cluster.intra_node.latency", FieldType::kDuration, "3us", "per message");
  b.object("cluster.inter_node", "", "path between nodes (NIC and switch)");
  b.dimensional("cluster.inter_node.bandwidth", FieldType::kBandwidth, "50GB/s",
                "per GPU NIC, per direction");
  b.dimensional("cluster.inter_node.latency", FieldType::kDuration, "10us", "per message");
  b.map("cluster.max_gpus", "", "most GPUs of each type available (absent: unlimited)");
  b.integer("cluster.max_gpus.*", "", 0, "GPUs of this type", 1e9);

  // ---- workload
  b.object("workload", "required", "the traffic (often an include of scenarios/workloads/)");
  b.object("workload.arrival", "required", "arrival process");
  b.choice("workload.arrival.process", "required", kArrivalProcessNames.names(),
           "how requests arrive");
  b.number("workload.arrival.rate", "required for poisson, gamma, deterministic", 0, kMaxRate, true,
           "req/s", "mean arrival rate");
  b.number("workload.arrival.cv", "1", 1e-3, 100, false, "",
           "gamma: coefficient of variation of inter-arrival gaps");
  b.array("workload.arrival.curve", "required for diurnal",
          "diurnal: piecewise-constant rate, [{at, rate}, ...], first at 0s");
  b.dimensional("workload.arrival.curve[].at", FieldType::kDuration, "required",
                "offset into the period where this rate starts");
  b.number("workload.arrival.curve[].rate", "required", 0, kMaxRate, false, "req/s",
           "arrival rate");
  b.dimensional("workload.arrival.period", FieldType::kDuration, "24h",
                "diurnal: the curve repeats with this period");
  b.object("workload.arrival.trace", "required for trace", "trace replay");
  b.str("workload.arrival.trace.file", "required", "trace file, relative to this scenario file");
  b.choice("workload.arrival.trace.format", "required", kTraceFormatNames.names(),
           "Azure LLM inference CSV, BurstGPT CSV, or Mooncake JSONL");
  b.number("workload.arrival.trace.time_scale", "1", 1e-6, 1e6, false, "",
           "multiplies the trace's gaps (2: half the load)");
  declare_length(b, "workload.input_length", "prompt");
  declare_length(b, "workload.output_length", "generated");
  b.dimensional("workload.duration", FieldType::kDuration, "10min", "arrivals stop after this");
  b.integer("workload.max_requests", "0", 0, "stop after this many arrivals (0: no cap)",
            static_cast<double>(limits::kMaxRequests));
  b.dimensional("workload.warmup", FieldType::kDuration, "0s",
                "requests arriving earlier are served but not scored");
  b.object("workload.expert_popularity", "",
           "MoE routing skew: the share of routed pairs each expert receives (uniform if absent)");
  b.number("workload.expert_popularity.zipf", "0", 0, kInf, false, "",
           "Zipf exponent s: the expert of popularity rank i gets a share proportional to "
           "1 / i^s (0: uniform)");
  b.array("workload.expert_popularity.counts", "",
          "routed pairs per expert counted on a trace (positive integers, expert id order); wins "
          "over zipf");

  // ---- slo
  b.object("slo", "required", "service-level objectives");
  b.dimensional("slo.ttft", FieldType::kDuration, "required", "time-to-first-token target");
  b.dimensional("slo.tpot", FieldType::kDuration, "required", "time-per-output-token target");
  b.number("slo.ttft_percentile", "90", 0, 100, true, "%", "percentile checked against slo.ttft");
  b.number("slo.tpot_percentile", "90", 0, 100, true, "%", "percentile checked against slo.tpot");
  b.fraction("slo.attainment", "0.9", "fraction of requests that must meet both targets");

  // ---- serving
  b.object("serving", "required", "the cluster being simulated");
  b.choice("serving.mode", "disaggregated", kServingModeNames.names(),
           "separate prefill and decode pools, or one pool doing both");
  declare_pool(b, "serving.prefill", "disaggregated mode");
  declare_pool(b, "serving.decode", "disaggregated mode");
  declare_pool(b, "serving.colocated", "colocated mode");
  b.integer("serving.kv_block_size", "16", 1, "tokens per paged-KV block", 65536);
  b.boolean("serving.kv_transfer_layerwise", "false",
            "stream KV layer by layer, overlapped with prefill");
  b.object("serving.shared_kv_tier", "",
           "a shared KV tier (Mooncake's store) beside the prefilling pool's block prefix "
           "caches: computed prompts' blocks are written to it; a prompt loads the blocks its "
           "instance misses and the tier holds, before its prefill, instead of computing them");
  b.dimensional("serving.shared_kv_tier.capacity", FieldType::kBytes, "0GB",
                "KV bytes the tier holds (LRU over whole blocks; 0: no tier)");
  b.dimensional("serving.shared_kv_tier.bandwidth", FieldType::kBandwidth, "50GB/s",
                "the tier's bandwidth to the prefilling GPUs, shared by every load (loads queue)");
  b.dimensional("serving.shared_kv_tier.latency", FieldType::kDuration, "20us",
                "added to each load");
  b.number("serving.min_kv_fraction", "0.1", 0, 1, false, "",
           "planner: a layout needs at least this share of GPU memory for KV");
  b.choice("serving.prefill_routing", "least_tokens", kPrefillRoutingNames.names(),
           "how requests pick a prefill instance (cache_aware: the longest prefix in the "
           "instance's prefix_cache, ties to the least queued prompt tokens)");
  b.choice("serving.decode_routing", "least_kv", kDecodeRoutingNames.names(),
           "how requests pick a decode instance");
  b.object("serving.speculative", "", "speculative decoding");
  b.boolean("serving.speculative.enabled", "false", "draft and verify");
  b.integer("serving.speculative.draft_length", "3", 1, "k: tokens drafted per verify step", 64);
  b.number("serving.speculative.acceptance_rate", "0.7", 0, 1, false, "",
           "a: probability a drafted token is accepted");
  b.number("serving.speculative.draft_cost_ratio", "0.05", 0, 1, false, "",
           "cost of one draft step against one target step");
  b.object("serving.autoscaler", "", "independent scaling of the prefill and decode pools");
  b.boolean("serving.autoscaler.enabled", "false", "scale the pools during the run");
  b.dimensional("serving.autoscaler.interval", FieldType::kDuration, "10s", "decision period");
  b.dimensional("serving.autoscaler.provisioning_delay", FieldType::kDuration, "60s",
                "time before a new instance serves");
  b.number("serving.autoscaler.prefill_queue_tokens_high", "16384", 0, 1e15, true, "tokens",
           "scale prefill up above this queued prompt load per instance");
  b.fraction("serving.autoscaler.decode_utilization_high", "0.85",
             "scale decode up above this KV occupancy");
  b.fraction("serving.autoscaler.low_watermark", "0.3",
             "scale down below this fraction of the high marks");
  b.integer("serving.autoscaler.min_instances", "1", 1, "per pool", kGpus);
  b.integer("serving.autoscaler.max_instances", "64", 1, "per pool", kGpus);

  // ---- search
  b.object("search", "", "what the planner may vary");
  b.array("search.prefill_gpus", "", "GPU types for prefill (absent: serving.prefill.gpu)");
  b.array("search.decode_gpus", "", "GPU types for decode (absent: serving.decode.gpu)");
  b.array("search.tp", "[1,2,4,8]", "tensor-parallel degrees to try");
  b.array("search.ep", "[1,2,4,8]", "expert-parallel degrees to try");
  b.array("search.pp", "[1]", "pipeline depths to try");
  b.array("search.max_batch_size", "[64,128,256]", "decode batch limits to try");
  b.array("search.chunk_size", "[2048]", "prefill chunk sizes to try");
  b.array("search.draft_lengths", "",
          "speculative (MTP) draft lengths to try on decode/colocated instances, 0: none, at "
          "serving.speculative's acceptance_rate and draft_cost_ratio (absent: the serving "
          "section's setting)");
  b.array("search.redundant_experts", "",
          "MoE pools placed by EPLB: redundant-expert counts to try per configuration (each "
          "must divide experts + redundant over the expert GPUs; absent: the pool's "
          "experts.redundant)");
  b.object("search.af_disaggregated", "",
           "MoE: attention/FFN-disaggregated instances to try beside the others (PD "
           "and colocated); each list is crossed with the others");
  b.array("search.af_disaggregated.roles", "[\"decode\"]",
          "pools whose instances may be attention/FFN disaggregated: \"prefill\", \"decode\"");
  b.array("search.af_disaggregated.attention_gpus", "",
          "GPU types of the attention pool (absent: the role's GPU types)");
  b.array("search.af_disaggregated.ffn_gpus", "required", "GPU types of the FFN (expert) pool");
  b.array("search.af_disaggregated.attention_tp", "[1]",
          "tensor-parallel degrees of one attention replica");
  b.array("search.af_disaggregated.attention_replicas", "[4,8]",
          "data-parallel attention replicas per instance (dp_attention)");
  b.array("search.af_disaggregated.ffn_sizes", "[8,16,32]",
          "expert-parallel GPUs of one instance's FFN pool");
  b.array("search.af_disaggregated.micro_batches", "[2,3,4]",
          "micro-batches per step shuttled between the pools");
  b.integer("search.max_instances_per_role", "64", 1, "most instances in one pool", kGpus);
  b.boolean("search.include_colocated", "true", "also plan the colocated baseline");
  b.choice("search.objective", "min_cost", kObjectiveNames.names(),
           "what the recommended plan optimises");
  b.number("search.budget_usd_per_hour", "0", 0, 1e12, false, "USD/h",
           "max_goodput_per_dollar: spend at most this");
  b.number("search.target_rate", "0", 0, kMaxRate, false, "req/s",
           "rate the plan must serve (0: the workload's mean rate)");
  b.integer("search.seeds", "3", 1, "whole-cluster simulations per finalist", 1000);
  b.integer("search.finalists", "3", 1, "best candidates confirmed by whole-cluster simulation",
            1000);
  b.number("search.headroom", "0.1", 0, 10, false, "",
           "load margin the plan must hold: it meets the SLOs at target_rate * (1 + headroom)");
  b.boolean("search.n_plus_one", "false",
            "the SLOs must also hold at the target rate with one instance of each pool down");
  b.choice("search.recommend", "robust", kRecommendRuleNames.names(),
           "robust: the cheapest plan that meets the SLOs at the pessimistic edge of the cost "
           "models' error band; nominal: the cheapest at nominal costs");

  // ---- reference
  b.object("reference", "",
           "a published deployment the report compares the plan with (nothing is planned from "
           "it)");
  b.str("reference.source", "required", "where the published figures come from");
  b.number("reference.nodes", "required", 0, 1e9, true, "nodes",
           "nodes the published deployment runs, in all");
  b.number("reference.prefill_nodes", "0", 0, 1e9, false, "nodes",
           "of them prefill (0: not published)");
  b.number("reference.decode_nodes", "0", 0, 1e9, false, "nodes",
           "of them decode (0: not published)");

  // ---- costs
  b.object("costs", "", "prices");
  b.map("costs.usd_per_hour", "", "price per GPU-hour by GPU type, overriding the catalog");
  b.number("costs.usd_per_hour.*", "", 0, kMaxPrice, true, "USD/h", "price");
  return f;
}

std::string fmt_range(const FieldDecl& f) {
  if (f.type != FieldType::kInteger && f.type != FieldType::kNumber) return "";
  char buf[96] = "";
  const bool lo = f.min > -kInf, hi = f.max < kInf;
  if (lo && hi) {
    std::snprintf(buf, sizeof buf, "%s%g..%g", f.min_exclusive ? ">" : "", f.min, f.max);
  } else if (lo) {
    std::snprintf(buf, sizeof buf, "%s %g", f.min_exclusive ? ">" : ">=", f.min);
  }
  return buf;
}

}  // namespace

const char* to_string(FieldType t) {
  switch (t) {
    case FieldType::kObject:
      return "object";
    case FieldType::kMap:
      return "map";
    case FieldType::kArray:
      return "array";
    case FieldType::kString:
      return "string";
    case FieldType::kBoolean:
      return "boolean";
    case FieldType::kInteger:
      return "integer";
    case FieldType::kNumber:
      return "number";
    case FieldType::kDuration:
      return "duration";
    case FieldType::kBytes:
      return "bytes";
    case FieldType::kBandwidth:
      return "bandwidth";
    case FieldType::kFlopRate:
      return "flop rate";
    case FieldType::kEnum:
      return "enum";
  }
  return "?";
}

const std::vector<FieldDecl>& scenario_schema() {
  static const std::vector<FieldDecl> fields = build();
  return fields;
}

const FieldDecl* find_field(const std::string& schema_path) {
  static const std::map<std::string, const FieldDecl*> index = [] {
    std::map<std::string, const FieldDecl*> m;
    for (const FieldDecl& f : scenario_schema()) m[f.path] = &f;
    return m;
  }();
  auto it = index.find(schema_path);
  return it == index.end() ? nullptr : it->second;
}

std::vector<std::string> child_keys(const std::string& schema_path) {
  std::vector<std::string> keys;
  const std::string prefix = schema_path.empty() ? "" : schema_path + ".";
  for (const FieldDecl& f : scenario_schema()) {
    if (f.path.compare(0, prefix.size(), prefix) != 0) continue;
    std::string rest = f.path.substr(prefix.size());
    if (rest.empty() || rest.find('.') != std::string::npos) continue;
    if (rest.find('[') != std::string::npos) continue;
    keys.push_back(rest);
  }
  return keys;
}

std::string schema_table(bool markdown) {
  std::string out;
  auto type_of = [](const FieldDecl& f) {
    std::string t = to_string(f.type);
    if (f.type == FieldType::kEnum) {
      t = "one of ";
      for (size_t i = 0; i < f.choices.size(); ++i) t += (i ? "|" : "") + f.choices[i];
    }
    std::string r = fmt_range(f);
    if (!r.empty()) t += " " + r;
    if (!f.unit.empty()) t += " [" + f.unit + "]";
    return t;
  };
  if (markdown) {
    out += "| field | type | default | meaning |\n|---|---|---|---|\n";
    for (const FieldDecl& f : scenario_schema()) {
      out += "| `" + f.path + "` | " + type_of(f) + " | " +
             (f.default_value.empty() ? "—" : f.default_value) + " | " + f.help + " |\n";
    }
    return out;
  }
  for (const FieldDecl& f : scenario_schema()) {
    char line[512];
    std::snprintf(line, sizeof line, "%-48s %-34s %-14s %s\n", f.path.c_str(), type_of(f).c_str(),
                  f.default_value.empty() ? "-" : f.default_value.c_str(), f.help.c_str());
    out += line;
  }
  return out;
}

}  // namespace quadrant::io
