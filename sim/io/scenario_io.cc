#include "sim/io/scenario_io.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include "sim/core/error.h"
#include "sim/core/limits.h"
#include "sim/io/json_reader.h"
#include "sim/workload/trace_reader.h"

namespace quadrant {

namespace fs = std::filesystem;
using io::Reader;

namespace {

int as_int(const Reader& r, const std::string& key) {
  int64_t v = r.integer(key);
  if (v > 2'000'000'000) r.fail(key, "expected an integer below 2e9, got " + std::to_string(v));
  return static_cast<int>(v);
}

ModelSpec read_model(const Reader& r) {
  ModelSpec m;
  m.name = r.string("name");
  r.string("source");
  r.string("notes");
  r.map_strings("sources");
  m.num_layers = as_int(r, "num_layers");
  m.hidden_size = as_int(r, "hidden_size");
  m.vocab_size = as_int(r, "vocab_size");
  m.tie_embeddings = r.boolean("tie_embeddings");

  Reader a = r.object("attention");
  AttentionSpec& at = m.attention;
  at.kind = a.choice("kind", kAttentionKindNames);
  at.num_heads = as_int(a, "num_heads");
  if (at.kind == AttentionKind::kMla) {
    at.q_lora_rank = as_int(a, "q_lora_rank");
    at.kv_lora_rank = as_int(a, "kv_lora_rank");
    at.qk_nope_head_dim = as_int(a, "qk_nope_head_dim");
    at.qk_rope_head_dim = as_int(a, "qk_rope_head_dim");
    at.v_head_dim = as_int(a, "v_head_dim");
    at.num_kv_heads = at.num_heads;
  } else {
    const bool mha = at.kind == AttentionKind::kMha;
    at.head_dim = as_int(a, "head_dim");
    at.num_kv_heads = mha && !a.has("num_kv_heads") ? at.num_heads : as_int(a, "num_kv_heads");
    if (mha && at.num_kv_heads != at.num_heads) {
      a.fail("num_kv_heads", "expected num_heads (" + std::to_string(at.num_heads) +
                                 ") for mha, got " + std::to_string(at.num_kv_heads));
    }
    if (at.num_heads % at.num_kv_heads != 0) {
      a.fail("num_kv_heads", "expected a divisor of num_heads (" + std::to_string(at.num_heads) +
                                 "), got " + std::to_string(at.num_kv_heads));
    }
  }

  Reader f = r.object("ffn");
  FfnSpec& ffn = m.ffn;
  ffn.kind = f.choice("kind", kFfnKindNames);
  if (ffn.kind == FfnKind::kMoe) {
    ffn.num_experts = as_int(f, "num_experts");
    ffn.top_k = as_int(f, "top_k");
    ffn.num_shared_experts = as_int(f, "num_shared_experts");
    ffn.expert_intermediate_size = as_int(f, "expert_intermediate_size");
    ffn.shared_expert_intermediate_size = as_int(f, "shared_expert_intermediate_size");
    ffn.first_dense_layers = as_int(f, "first_dense_layers");
    if (ffn.top_k > ffn.num_experts) {
      f.fail("top_k", "expected at most num_experts (" + std::to_string(ffn.num_experts) +
                          "), got " + std::to_string(ffn.top_k));
    }
    if (ffn.first_dense_layers >= m.num_layers) {
      f.fail("first_dense_layers", "expected fewer than num_layers (" +
                                       std::to_string(m.num_layers) + "), got " +
                                       std::to_string(ffn.first_dense_layers));
    }
    if (ffn.first_dense_layers > 0) ffn.intermediate_size = as_int(f, "intermediate_size");
  } else {
    ffn.intermediate_size = as_int(f, "intermediate_size");
    if (ffn.kind == FfnKind::kUltraMem) {
      ffn.memory_layer_interval = as_int(f, "memory_layer_interval");
      ffn.num_values = f.integer("num_values");
      ffn.value_dim = as_int(f, "value_dim");
      ffn.top_k_values = as_int(f, "top_k_values");
      ffn.num_memory_heads = as_int(f, "num_memory_heads");
      if (ffn.memory_layer_interval > m.num_layers) {
        f.fail("memory_layer_interval", "expected at most num_layers (" +
                                            std::to_string(m.num_layers) + "), got " +
                                            std::to_string(ffn.memory_layer_interval));
      }
    }
  }

  Reader p = r.object("precision");
  m.precision.weights = p.choice("weights", kNumberFormatNames);
  m.precision.activations = p.choice("activations", kNumberFormatNames);
  m.precision.kv_cache = p.choice("kv_cache", kNumberFormatNames);
  m.precision.weight_group_size = as_int(p, "weight_group_size");
  return m;
}

HardwareCatalog read_catalog(const Reader& r) {
  HardwareCatalog c;
  r.string("source");
  for (const auto& [name, g] : r.map_objects("gpus")) {
    GpuSpec s;
    s.name = name;
    g.string("description");
    s.memory = g.bytes("memory");
    s.memory_bandwidth = g.bandwidth("memory_bandwidth");
    s.bf16 = g.flop_rate("bf16");
    s.fp8 = g.flop_rate("fp8");
    s.int8 = g.flop_rate("int8");
    s.nvlink_bandwidth = g.bandwidth("nvlink_bandwidth");
    s.nic_bandwidth = g.bandwidth("nic_bandwidth");
    s.usd_per_hour = g.number("usd_per_hour");
    s.compute_efficiency = g.number("compute_efficiency");
    s.memory_efficiency = g.number("memory_efficiency");
    s.kernel_overhead = g.duration("kernel_overhead");
    s.reserved_memory = g.bytes("reserved_memory");
    s.source = g.string("source");
    s.power_watts = g.number("power_watts");
    std::string cal = g.string("calibrated");
    if (!cal.empty()) s.calibrated = (fs::path(g.dir()) / cal).lexically_normal().string();
    if (s.memory.value() <= 0) g.fail("memory", "expected a positive size, got 0");
    if (s.memory_bandwidth.value() <= 0)
      g.fail("memory_bandwidth", "expected a positive bandwidth, got 0");
    if (s.bf16.value() <= 0) g.fail("bf16", "expected a positive FLOP rate, got 0");
    if (s.reserved_memory >= s.memory) {
      g.fail("reserved_memory", "expected less than the GPU's memory");
    }
    c.gpus.emplace(name, std::move(s));
  }
  if (c.gpus.empty()) r.fail("gpus", "expected at least one GPU type, got none");
  for (const auto& [name, p] : r.map_objects("power_caps")) {
    const std::string base = p.string("gpu");
    const GpuSpec* g = c.find(base);
    if (g == nullptr || !g->capped_from.empty()) {
      std::vector<std::string> names;
      for (const auto& [n, x] : c.gpus)
        if (x.capped_from.empty()) names.push_back(n);
      const std::string guess = io::closest(base, names);
      p.fail("gpu", "expected an uncapped GPU type of hardware.gpus, got \"" + base + "\"" +
                        (guess.empty() ? "" : "; did you mean \"" + guess + "\"?"));
    }
    if (c.find(name))
      r.object("power_caps")
          .fail(name,
                "expected a new GPU type name, got \"" + name + "\", already in hardware.gpus");
    GpuSpec capped = *g;
    capped.name = name;
    capped.capped_from = base;
    capped.power_cap_watts = p.number("watts");
    capped.clock_factor = p.number("clock_factor");
    if (p.has("usd_per_hour")) capped.usd_per_hour = p.number("usd_per_hour");
    capped.source = p.string("source");
    if (g->power_watts > 0 && capped.power_cap_watts > g->power_watts) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "'s board power %g W, got %g W", g->power_watts,
                    capped.power_cap_watts);
      p.fail("watts", "expected at most " + base + buf);
    }
    c.gpus.emplace(name, std::move(capped));
  }
  return c;
}

std::string catalog_names(const HardwareCatalog& c) {
  std::string out;
  for (const auto& [name, g] : c.gpus) out += (out.empty() ? "" : ", ") + name;
  return out;
}

void check_gpu_ref(const Reader& r, const std::string& key, const std::string& gpu,
                   const HardwareCatalog& c) {
  if (c.find(gpu)) return;
  std::vector<std::string> names;
  for (const auto& [n, g] : c.gpus) names.push_back(n);
  std::string guess = io::closest(gpu, names);
  r.fail(key, "expected a GPU type of hardware.gpus (" + catalog_names(c) + "), got \"" + gpu +
                  "\"" + (guess.empty() ? "" : "; did you mean \"" + guess + "\"?"));
}

LengthSpec read_length(const Reader& r) {
  LengthSpec l;
  l.distribution = r.choice("distribution", kLengthDistributionNames);
  l.min = r.integer("min");
  l.max = r.integer("max");
  if (l.min > l.max) {
    r.fail("max",
           "expected at least min (" + std::to_string(l.min) + "), got " + std::to_string(l.max));
  }
  switch (l.distribution) {
    case LengthDistribution::kFixed:
      l.value = r.integer("value");
      break;
    case LengthDistribution::kUniform:
      if (!r.has("max")) r.fail("max", "missing required field (uniform upper bound)");
      break;
    case LengthDistribution::kLognormal:
      l.median = r.number("median");
      l.sigma = r.number("sigma");
      break;
    case LengthDistribution::kHistogram:
      l.bins = r.pairs("bins");
      break;
  }
  return l;
}

WorkloadSpec read_workload(const Reader& r) {
  WorkloadSpec w;
  TraceSummary trace;  // a trace workload's, found by one streaming pass
  Reader a = r.object("arrival");
  ArrivalSpec& ar = w.arrival;
  ar.process = a.choice("process", kArrivalProcessNames);
  if (ar.process == ArrivalProcess::kPoisson || ar.process == ArrivalProcess::kGamma ||
      ar.process == ArrivalProcess::kDeterministic) {
    ar.rate_per_s = a.number("rate");
    ar.cv = a.number("cv");
  } else if (ar.process == ArrivalProcess::kDiurnal) {
    ar.curve_period = a.duration("period");
    Duration last = Duration::nanos(-1);
    std::vector<Reader> points = a.objects("curve");
    if (points.empty()) a.fail("curve", "expected at least one {at, rate} point, got []");
    double total = 0;
    for (const Reader& pt : points) {
      RatePoint rp{pt.duration("at"), pt.number("rate")};
      if (rp.at <= last) pt.fail("at", "expected times in increasing order");
      if (rp.at >= ar.curve_period) pt.fail("at", "expected a time within the period");
      last = rp.at;
      total += rp.rate_per_s;
      ar.curve.push_back(rp);
    }
    if (ar.curve.front().at != Duration::zero())
      points.front().fail("at", "expected the first point at 0s");
    if (total <= 0) a.fail("curve", "expected some positive rate, got all zeros");
    double mean = 0;
    for (size_t i = 0; i < ar.curve.size(); ++i) {
      Duration end = i + 1 < ar.curve.size() ? ar.curve[i + 1].at : ar.curve_period;
      mean += ar.curve[i].rate_per_s * ((end - ar.curve[i].at) / ar.curve_period);
    }
    ar.rate_per_s = mean;
  } else {  // a trace
    Reader t = a.object("trace");
    std::string file = t.string("file");
    ar.trace_file = (fs::path(t.dir()) / file).lexically_normal().string();
    if (!fs::exists(ar.trace_file)) {
      t.fail("file", "cannot open trace file \"" + file + "\" (looked for " +
                         fs::absolute(ar.trace_file).lexically_normal().string() + ")");
    }
    ar.trace_format = t.choice("format", kTraceFormatNames);
    ar.trace_time_scale = t.number("time_scale");
    // Every line is checked here, at the edge, streaming (validate reads the trace too);
    // the replay's duration, GPU-hours and cost follow the trace's own span.
    trace = scan_trace(ar.trace_file, ar.trace_format, ar.trace_time_scale);
    ar.trace_requests = trace.requests;
    ar.trace_span = trace.span;
    ar.rate_per_s = trace.span > Duration::zero()
                        ? static_cast<double>(trace.requests) / trace.span.to_seconds()
                        : static_cast<double>(trace.requests);
  }
  w.input_length = read_length(r.object("input_length"));
  w.output_length = read_length(r.object("output_length"));
  if (ar.process == ArrivalProcess::kTrace) {
    // A replay draws the trace's own lengths; the planner's synthetic workloads (Poisson
    // at a probed rate) draw the same lengths from these histograms, not the defaults.
    for (auto [spec, bins] : {std::pair{&w.input_length, &trace.input_bins},
                              std::pair{&w.output_length, &trace.output_bins}}) {
      *spec = LengthSpec{};
      spec->distribution = LengthDistribution::kHistogram;
      spec->bins = *bins;
      spec->min = bins->front().first;
      spec->max = bins->back().first;
    }
  }
  w.duration = r.duration("duration");
  w.max_requests = r.integer("max_requests");
  w.warmup = r.duration("warmup");
  if (ar.process == ArrivalProcess::kTrace) {
    // A trace is replayed whole: its span (to just past the last arrival) is the run's
    // duration; a duration written beside it may only extend it.
    const Duration span = ar.trace_span + Duration::nanos(1);
    if (!r.has("duration")) {
      w.duration = span;
    } else if (w.duration < span) {
      r.fail("duration", "expected at least the trace's span (" +
                             std::to_string(span.to_seconds()) +
                             " s: a trace is replayed whole), or no duration at all");
    }
  }
  if (w.duration <= Duration::zero()) r.fail("duration", "expected a positive duration, got 0");
  if (w.warmup >= w.duration) r.fail("warmup", "expected less than workload.duration");
  // Requests a run generates, bounded before anything is simulated.
  double expected = ar.process == ArrivalProcess::kTrace ? static_cast<double>(ar.trace_requests)
                                                         : ar.rate_per_s * w.duration.to_seconds();
  if (w.max_requests > 0) expected = std::min(expected, static_cast<double>(w.max_requests));
  if (expected > static_cast<double>(limits::kMaxRequests)) {
    r.fail("duration", "expected at most " + std::to_string(limits::kMaxRequests) +
                           " requests per run (sim/core/limits.h), got about " +
                           std::to_string(static_cast<int64_t>(expected)) +
                           " (rate x duration); shorten it or set workload.max_requests");
  }
  const Reader e = r.object("expert_popularity");
  w.expert_popularity.zipf_exponent = e.number("zipf");
  for (int64_t c : e.integers("counts"))  // positive integers (the reader checks)
    w.expert_popularity.counts.push_back(static_cast<double>(c));
  return w;
}

SloSpec read_slo(const Reader& r) {
  SloSpec s;
  s.ttft = r.duration("ttft");
  s.tpot = r.duration("tpot");
  s.ttft_percentile = r.number("ttft_percentile");
  s.tpot_percentile = r.number("tpot_percentile");
  s.attainment = r.number("attainment");
  if (s.ttft <= Duration::zero()) r.fail("ttft", "expected a positive duration, got 0");
  if (s.tpot <= Duration::zero()) r.fail("tpot", "expected a positive duration, got 0");
  return s;
}

PoolSpec read_pool(const Reader& r, const ModelSpec& m, const HardwareCatalog& c) {
  PoolSpec p;
  p.gpu = r.string("gpu");
  check_gpu_ref(r, "gpu", p.gpu, c);
  p.instances = as_int(r, "instances");
  Reader l = r.object("layout");
  p.layout.tp = as_int(l, "tp");
  p.layout.ep = as_int(l, "ep");
  p.layout.pp = as_int(l, "pp");
  p.layout.dp_attention = as_int(l, "dp_attention");
  const int stage_gpus = p.layout.tp * p.layout.dp_attention;
  if (stage_gpus % p.layout.ep != 0) {
    l.fail("ep", "expected a divisor of tp * dp_attention (" + std::to_string(stage_gpus) +
                     "), got " + std::to_string(p.layout.ep));
  }
  if (p.layout.tp > m.attention.num_heads) {
    l.fail("tp", "expected at most the model's attention heads (" +
                     std::to_string(m.attention.num_heads) + "), got " +
                     std::to_string(p.layout.tp));
  }
  if (m.ffn.kind == FfnKind::kMoe && p.layout.ep > m.ffn.num_experts) {
    l.fail("ep", "expected at most the model's experts (" + std::to_string(m.ffn.num_experts) +
                     "), got " + std::to_string(p.layout.ep));
  }
  if (p.layout.pp > m.num_layers) {
    l.fail("pp", "expected at most the model's layers (" + std::to_string(m.num_layers) +
                     "), got " + std::to_string(p.layout.pp));
  }
  if (int64_t{p.layout.gpus()} > limits::kMaxGpus) {
    l.fail("tp", "expected an instance of at most " + std::to_string(limits::kMaxGpus) +
                     " GPUs (tp x pp x dp_attention), got " + std::to_string(p.layout.gpus()));
  }
  p.max_batch_size = as_int(r, "max_batch_size");
  p.max_batch_tokens = r.integer("max_batch_tokens");
  p.chunk_size = r.integer("chunk_size");
  p.kv_capacity_tokens = r.integer("kv_capacity");
  const Reader e = r.object("experts");
  p.experts.redundant = as_int(e, "redundant");
  p.experts.rebalancer = e.choice("rebalancer", kRebalancerNames);
  p.dual_micro_batch = r.boolean("dual_micro_batch");
  p.prefix_hit_rate = r.number("prefix_hit_rate");
  const Reader pc = r.object("prefix_cache");
  p.prefix_cache.memory_fraction = pc.number("memory_fraction");
  p.prefix_cache.block_tokens = as_int(pc, "block_tokens");
  if (p.prefix_cache.memory_fraction > 0 && p.prefix_hit_rate > 0)
    r.fail("prefix_hit_rate",
           "expected 0 beside prefix_cache (the block cache finds the hits "
           "itself), got " +
               std::to_string(p.prefix_hit_rate));
  if (r.has("af_disaggregated")) {
    const Reader af = r.object("af_disaggregated");
    if (m.ffn.kind != FfnKind::kMoe)
      r.fail("af_disaggregated",
             "expected a MoE model (attention/FFN disaggregation moves the experts), got a " +
                 std::string(to_string(m.ffn.kind)) + " FFN");
    p.af.ffn_gpu = af.string("ffn_gpu");
    check_gpu_ref(af, "ffn_gpu", p.af.ffn_gpu, c);
    p.af.ffn_gpus = as_int(af, "ffn_gpus");
    p.af.micro_batches = as_int(af, "micro_batches");
    if (p.layout.ep != 1)
      l.fail("ep", "expected 1 beside af_disaggregated (the experts live on its ffn_gpus), got " +
                       std::to_string(p.layout.ep));
    if (p.layout.pp != 1)
      l.fail("pp", "expected 1 beside af_disaggregated (no pipeline stages in a unit), got " +
                       std::to_string(p.layout.pp));
    if (p.dual_micro_batch)
      r.fail("dual_micro_batch",
             "expected false beside af_disaggregated (its micro_batches overlap the "
             "communication), got true");
    if (int64_t{p.gpus_per_instance()} > limits::kMaxGpus)
      af.fail("ffn_gpus", "expected an instance of at most " + std::to_string(limits::kMaxGpus) +
                              " GPUs (attention + FFN), got " +
                              std::to_string(p.gpus_per_instance()));
  }
  // EPLB packs whole slots per GPU: over the stage's GPUs, or the FFN pool's with AF.
  const int expert_gpus = p.af.enabled() ? p.af.ffn_gpus : stage_gpus;
  if (p.experts.rebalancer == Rebalancer::kEplb && m.ffn.kind == FfnKind::kMoe &&
      (m.ffn.num_experts + p.experts.redundant) % expert_gpus != 0)
    e.fail("redundant",
           "expected experts + redundant (" + std::to_string(m.ffn.num_experts) + " + " +
               std::to_string(p.experts.redundant) + ") divisible by " +
               (p.af.enabled() ? "af_disaggregated.ffn_gpus (" : "tp * dp_attention (") +
               std::to_string(expert_gpus) + ") for eplb");
  return p;
}

ServingSpec read_serving(const Reader& r, const ModelSpec& m, const HardwareCatalog& c) {
  ServingSpec s;
  s.mode = r.choice("mode", kServingModeNames);
  if (s.mode == ServingMode::kDisaggregated) {
    if (!r.has("prefill"))
      r.fail("prefill", "missing required field (the prefill pool of disaggregated mode)");
    if (!r.has("decode"))
      r.fail("decode", "missing required field (the decode pool of disaggregated mode)");
  } else if (!r.has("colocated")) {
    r.fail("colocated", "missing required field (the pool of colocated mode)");
  }
  if (r.has("prefill")) s.prefill = read_pool(r.object("prefill"), m, c);
  if (r.has("decode")) s.decode = read_pool(r.object("decode"), m, c);
  if (s.decode.prefix_cache.memory_fraction > 0)
    r.object("decode")
        .object("prefix_cache")
        .fail("memory_fraction", "expected 0 (a prefix cache serves the pool that prefills), got " +
                                     std::to_string(s.decode.prefix_cache.memory_fraction));
  if (s.decode.prefix_hit_rate > 0)  // a decode pool computes no prompt
    r.object("decode").fail("prefix_hit_rate",
                            "expected 0 (a prefix cache serves the pool that prefills), got " +
                                std::to_string(s.decode.prefix_hit_rate));
  if (r.has("colocated")) s.colocated = read_pool(r.object("colocated"), m, c);
  // The simulated cluster's size (limits.h): memory grows faster than linearly in GPUs.
  auto pool_gpus = [](const PoolSpec& p) { return int64_t{p.gpus_per_instance()} * p.instances; };
  const int64_t gpus = s.mode == ServingMode::kColocated
                           ? pool_gpus(s.colocated)
                           : pool_gpus(s.prefill) + pool_gpus(s.decode);
  if (gpus > limits::kMaxGpus) {
    r.fail(s.mode == ServingMode::kColocated ? "colocated" : "decode",
           "expected a cluster of at most " + std::to_string(limits::kMaxGpus) +
               " GPUs (sim/core/limits.h), got " + std::to_string(gpus) +
               " (instances x (tp x pp x dp_attention + FFN GPUs) over the pools)");
  }
  s.kv_block_size = as_int(r, "kv_block_size");
  s.kv_transfer_layerwise = r.boolean("kv_transfer_layerwise");
  if (r.has("shared_kv_tier")) {
    const Reader t = r.object("shared_kv_tier");
    s.shared_kv_tier.capacity = t.bytes("capacity");
    s.shared_kv_tier.bandwidth = t.bandwidth("bandwidth");
    s.shared_kv_tier.latency = t.duration("latency");
    if (s.shared_kv_tier.enabled() && s.shared_kv_tier.bandwidth.value() <= 0)
      t.fail("bandwidth", "expected a positive bandwidth beside a capacity, got 0");
    const PoolSpec& entry = s.mode == ServingMode::kColocated ? s.colocated : s.prefill;
    if (s.shared_kv_tier.enabled() && entry.prefix_cache.memory_fraction <= 0)
      t.fail("capacity", std::string("expected a prefix_cache on serving.") +
                             (s.mode == ServingMode::kColocated ? "colocated" : "prefill") +
                             " (the tier is found by its block hashes), got none");
  }
  s.min_kv_fraction = r.number("min_kv_fraction");
  s.prefill_routing = r.choice("prefill_routing", kPrefillRoutingNames);
  s.decode_routing = r.choice("decode_routing", kDecodeRoutingNames);
  Reader sp = r.object("speculative");
  s.speculative.enabled = sp.boolean("enabled");
  s.speculative.draft_length = as_int(sp, "draft_length");
  s.speculative.acceptance_rate = sp.number("acceptance_rate");
  s.speculative.draft_cost_ratio = sp.number("draft_cost_ratio");
  if (s.speculative.acceptance_rate >= 1) {
    sp.fail("acceptance_rate", "expected a number in [0, 1), got 1");
  }
  Reader a = r.object("autoscaler");
  AutoscalerSpec& as = s.autoscaler;
  as.enabled = a.boolean("enabled");
  as.interval = a.duration("interval");
  as.provisioning_delay = a.duration("provisioning_delay");
  as.prefill_queue_tokens_high = a.number("prefill_queue_tokens_high");
  as.decode_utilization_high = a.number("decode_utilization_high");
  as.low_watermark = a.number("low_watermark");
  as.min_instances = as_int(a, "min_instances");
  as.max_instances = as_int(a, "max_instances");
  if (as.min_instances > as.max_instances) {
    a.fail("max_instances", "expected at least min_instances (" + std::to_string(as.min_instances) +
                                "), got " + std::to_string(as.max_instances));
  }
  if (as.interval <= Duration::zero()) a.fail("interval", "expected a positive duration, got 0");
  if (as.enabled) {
    for (const PoolSpec* p : {&s.prefill, &s.decode, &s.colocated}) {
      if (int64_t{as.max_instances} * p->layout.gpus() > limits::kMaxGpus) {
        a.fail("max_instances", "expected at most " + std::to_string(limits::kMaxGpus) +
                                    " GPUs per pool when scaled up (sim/core/limits.h), got " +
                                    std::to_string(as.max_instances) + " instances of " +
                                    std::to_string(p->layout.gpus()) + " GPUs");
      }
    }
  }
  return s;
}

std::vector<int> to_ints(const std::vector<int64_t>& v) {
  return {v.begin(), v.end()};
}

SearchSpec read_search(const Reader& r, const HardwareCatalog& c) {
  SearchSpec s;
  s.prefill_gpus = r.strings("prefill_gpus");
  s.decode_gpus = r.strings("decode_gpus");
  for (size_t i = 0; i < s.prefill_gpus.size(); ++i) {
    if (!c.find(s.prefill_gpus[i])) {
      check_gpu_ref(r, "prefill_gpus[" + std::to_string(i) + "]", s.prefill_gpus[i], c);
    }
  }
  for (size_t i = 0; i < s.decode_gpus.size(); ++i) {
    if (!c.find(s.decode_gpus[i])) {
      check_gpu_ref(r, "decode_gpus[" + std::to_string(i) + "]", s.decode_gpus[i], c);
    }
  }
  s.tp = to_ints(r.integers("tp"));
  s.ep = to_ints(r.integers("ep"));
  s.pp = to_ints(r.integers("pp"));
  s.max_batch_size = to_ints(r.integers("max_batch_size"));
  s.chunk_size = r.integers("chunk_size");
  for (int64_t k : r.integers("draft_lengths", 0)) {
    if (k > 64)
      r.fail("draft_lengths", "expected draft lengths of at most 64, got " + std::to_string(k));
    s.draft_lengths.push_back(static_cast<int>(k));
  }
  for (int64_t k : r.integers("redundant_experts", 0)) {
    if (k > 4096)
      r.fail("redundant_experts",
             "expected redundant-expert counts of at most 4096, got " + std::to_string(k));
    s.redundant_experts.push_back(static_cast<int>(k));
  }
  if (r.has("af_disaggregated")) {
    const Reader af = r.object("af_disaggregated");
    if (af.has("roles")) {
      const std::vector<std::string> roles = af.strings("roles");
      if (roles.empty())
        af.fail("roles", "expected a non-empty array of \"prefill\" and \"decode\", got none");
      s.af.roles.clear();
      for (size_t i = 0; i < roles.size(); ++i) {
        const std::string key = "roles[" + std::to_string(i) + "]";
        if (roles[i] != "prefill" && roles[i] != "decode")
          af.fail(key,
                  "expected \"prefill\" or \"decode\" (the pools attention/FFN "
                  "disaggregation serves), got \"" +
                      roles[i] + "\"");
        const Role role = roles[i] == "prefill" ? Role::kPrefill : Role::kDecode;
        if (std::find(s.af.roles.begin(), s.af.roles.end(), role) != s.af.roles.end())
          af.fail(key, "expected each role once, got \"" + roles[i] + "\" again");
        s.af.roles.push_back(role);
      }
    }
    s.af.attention_gpus = af.strings("attention_gpus");
    for (size_t i = 0; i < s.af.attention_gpus.size(); ++i)
      check_gpu_ref(af, "attention_gpus[" + std::to_string(i) + "]", s.af.attention_gpus[i], c);
    s.af.ffn_gpus = af.strings("ffn_gpus");
    if (s.af.ffn_gpus.empty())
      af.fail("ffn_gpus", "expected a non-empty array of GPU types, got none");
    for (size_t i = 0; i < s.af.ffn_gpus.size(); ++i)
      check_gpu_ref(af, "ffn_gpus[" + std::to_string(i) + "]", s.af.ffn_gpus[i], c);
    s.af.attention_tp = to_ints(af.integers("attention_tp"));
    s.af.attention_replicas = to_ints(af.integers("attention_replicas"));
    s.af.ffn_sizes = to_ints(af.integers("ffn_sizes"));
    s.af.micro_batches = to_ints(af.integers("micro_batches"));
    for (size_t i = 0; i < s.af.micro_batches.size(); ++i)
      if (s.af.micro_batches[i] > 64)
        af.fail("micro_batches", "expected micro-batch counts of at most 64, got " +
                                     std::to_string(s.af.micro_batches[i]));
  }
  s.max_instances_per_role = as_int(r, "max_instances_per_role");
  s.include_colocated = r.boolean("include_colocated");
  s.objective = r.choice("objective", kObjectiveNames);
  s.budget_usd_per_hour = r.number("budget_usd_per_hour");
  if (s.objective == Objective::kMaxGoodputPerDollar && s.budget_usd_per_hour <= 0) {
    r.fail("budget_usd_per_hour", "expected a positive budget for max_goodput_per_dollar, got 0");
  }
  s.target_rate_per_s = r.number("target_rate");
  s.seeds = as_int(r, "seeds");
  s.finalists = as_int(r, "finalists");
  s.headroom = r.number("headroom");
  s.n_plus_one = r.boolean("n_plus_one");
  s.recommend = r.choice("recommend", kRecommendRuleNames);
  return s;
}

}  // namespace

HardwareCatalog load_catalog(const std::string& path) {
  io::Json doc = io::load_json_file(path);
  // A catalog file has the shape of the `hardware` section; read it under that name.
  io::Json wrapped = {{"hardware", doc}};
  Reader root = Reader::root(wrapped, path);
  return read_catalog(root.object("hardware"));
}

ModelSpec load_model(const std::string& path) {
  io::Json doc = io::load_json_file(path);
  io::Json wrapped = {{"model", doc}};  // read under the section's name, as load_catalog does
  return read_model(Reader::root(wrapped, path).object("model"));
}

Scenario load_scenario(const std::string& path) {
  io::Json doc = io::load_json_file(path);
  Reader r = Reader::root(doc, path);
  Scenario s;
  s.file = path;
  s.name = r.string("name");
  r.string("description");
  s.seed = static_cast<uint64_t>(r.integer("seed"));
  s.model = read_model(r.object("model"));
  s.catalog = read_catalog(r.object("hardware"));
  Reader cl = r.object("cluster");
  s.cluster.gpus_per_node = as_int(cl, "gpus_per_node");
  Reader intra = cl.object("intra_node");
  s.cluster.intra_node = {intra.bandwidth("bandwidth"), intra.duration("latency")};
  Reader inter = cl.object("inter_node");
  s.cluster.inter_node = {inter.bandwidth("bandwidth"), inter.duration("latency")};
  for (const auto& [gpu, n] : cl.map_numbers("max_gpus")) {
    check_gpu_ref(cl.object("max_gpus"), gpu, gpu, s.catalog);
    s.cluster.max_gpus[gpu] = static_cast<int>(n);
  }
  s.workload = read_workload(r.object("workload"));
  s.slo = read_slo(r.object("slo"));
  s.serving = read_serving(r.object("serving"), s.model, s.catalog);
  {  // a block cache matches the prompts' block hashes: only a Mooncake trace has them
    const bool colocated = s.serving.mode == ServingMode::kColocated;
    const PoolSpec& entry = colocated ? s.serving.colocated : s.serving.prefill;
    const bool hashes = s.workload.arrival.process == ArrivalProcess::kTrace &&
                        s.workload.arrival.trace_format == TraceFormat::kMooncake;
    if (entry.prefix_cache.memory_fraction > 0 && !hashes)
      r.object("serving")
          .object(colocated ? "colocated" : "prefill")
          .object("prefix_cache")
          .fail("memory_fraction",
                "expected a workload replaying a mooncake trace (its hash_ids are what the block "
                "cache matches; use prefix_hit_rate for other workloads), got a " +
                    std::string(to_string(s.workload.arrival.process)) + " workload");
    if (s.serving.prefill_routing == PrefillRouting::kCacheAware &&
        entry.prefix_cache.memory_fraction <= 0)
      r.object("serving").fail("prefill_routing",
                               "expected a prefix_cache on the " +
                                   std::string(colocated ? "colocated" : "prefill") +
                                   " pool for cache_aware routing, got none");
  }
  s.search = read_search(r.object("search"), s.catalog);
  Reader costs = r.object("costs");
  for (const auto& [gpu, price] : costs.map_numbers("usd_per_hour")) {
    check_gpu_ref(costs.object("usd_per_hour"), gpu, gpu, s.catalog);
    s.costs.usd_per_hour[gpu] = price;
  }
  if (r.has("reference")) {
    const Reader ref = r.object("reference");
    s.reference.source = ref.string("source");
    s.reference.nodes = ref.number("nodes");
    s.reference.prefill_nodes = ref.number("prefill_nodes");
    s.reference.decode_nodes = ref.number("decode_nodes");
    const double parts = s.reference.prefill_nodes + s.reference.decode_nodes;
    if (parts > s.reference.nodes * 1.05) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "expected prefill_nodes + decode_nodes at most 5%% above nodes (%g), got %g",
                    s.reference.nodes, parts);
      ref.fail("decode_nodes", buf);
    }
  }
  s.input_files.push_back(path);
  for (const std::string& f : r.included_files()) s.input_files.push_back(f);
  if (!s.workload.arrival.trace_file.empty())
    s.input_files.push_back(s.workload.arrival.trace_file);
  for (const auto& [name, gpu] : s.catalog.gpus)
    if (!gpu.calibrated.empty()) s.input_files.push_back(gpu.calibrated);
  return s;
}

}  // namespace quadrant
