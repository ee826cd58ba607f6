// `quadrant validate SCENARIO [--resolved FILE]`: check a scenario and print a one-screen
// summary of the model, the traffic and each pool's per-GPU memory and FLOP budget;
// --resolved also writes the scenario as the simulator sees it (save_scenario: every
// field, defaults and includes resolved, units written out). It runs every check
// simulate and plan run before they start (the scenario edge, every trace line, the
// calibrated cost models) and exits 1 with one error line when a pool does not fit.
// `quadrant schema [--markdown]`: every scenario field with its type, default and help.
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sim/cli/commands.h"
#include "sim/cli/cost_models.h"
#include "sim/core/error.h"
#include "sim/cost/step_cost.h"
#include "sim/io/scenario_io.h"
#include "sim/io/schema.h"
#include "sim/metrics/result.h"
#include "sim/model/accounting.h"

namespace quadrant::cli {

namespace {

std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof b, f, a);
  return b;
}

std::string length_text(const LengthSpec& l) {
  switch (l.distribution) {
    case LengthDistribution::kFixed:
      return "fixed " + std::to_string(l.value);
    case LengthDistribution::kUniform:
      return "uniform " + std::to_string(l.min) + ".." + std::to_string(l.max);
    case LengthDistribution::kLognormal:
      return "lognormal median " + fmt("%.0f", l.median) + " sigma " + fmt("%.2f", l.sigma) +
             " (mean " + fmt("%.0f", l.mean()) + ")";
    case LengthDistribution::kHistogram:
      return "histogram of " + std::to_string(l.bins.size()) + " bins (mean " +
             fmt("%.0f", l.mean()) + ")";
  }
  return "";
}

// Prints one pool; returns how many GB its GPUs are short of memory (0: it fits).
double print_pool(const Scenario& s, const char* role, const PoolSpec& p, bool decode) {
  const GpuSpec& g = *s.catalog.find(p.gpu);
  const Layout& l = p.layout;
  const ModelSpec& m = s.model;
  // Redundant expert replicas (EPLB) take weight memory too.
  const MoeExecution moe =
      moe_execution(m, l, p.experts, s.workload.expert_popularity, p.dual_micro_batch);
  Bytes w = weight_bytes_per_gpu(m, l) + redundant_expert_bytes_per_gpu(m, l, moe.slots_per_gpu);
  const Bytes kv_tok = kv_bytes_per_token_per_gpu(m, l);
  std::printf("  %-9s %d x %s  TP%d EP%d PP%d DP%d = %d GPUs/instance, %d GPUs, $%.2f/h\n", role,
              p.instances, p.gpu.c_str(), l.tp, l.ep, l.pp, l.dp_attention, l.gpus(),
              l.gpus() * p.instances, l.gpus() * p.instances * s.price_per_hour(p.gpu));
  if (p.af.enabled()) {  // the attention GPUs above hold no expert; the FFN pool does
    const AfWeights af = af_weight_bytes_per_gpu(m, l, p.af.ffn_gpus);
    w = af.attention_per_gpu;
    const GpuSpec& f = *s.catalog.find(p.af.ffn_gpu);
    std::printf(
        "            + FFN pool: %d x %s per instance (EP%d, %d micro-batches), %d GPUs, "
        "$%.2f/h; experts %.1f GB per FFN GPU of %.1f GB less %.1f GB reserved%s\n",
        p.af.ffn_gpus, p.af.ffn_gpu.c_str(), p.af.ffn_gpus, p.af.micro_batches,
        p.af.ffn_gpus * p.instances, p.af.ffn_gpus * p.instances * s.price_per_hour(p.af.ffn_gpu),
        af.ffn_per_gpu.to_gb(), f.memory.to_gb(), f.reserved_memory.to_gb(),
        af.ffn_per_gpu > f.memory - f.reserved_memory ? ": DO NOT FIT" : "");
  }
  const Bytes kv_cap = g.memory - g.reserved_memory - w;
  std::printf("            memory/GPU: %.1f GB weights + %.1f GB reserved of %.1f GB -> ",
              w.to_gb(), g.reserved_memory.to_gb(), g.memory.to_gb());
  if (kv_cap.value() <= 0) {
    std::printf("DOES NOT FIT (%.1f GB short)\n", -kv_cap.to_gb());
    return -kv_cap.to_gb();
  }
  std::printf("%.1f GB KV = %.0fk tokens (%.1f KB/token)\n", kv_cap.to_gb(), kv_cap / kv_tok / 1e3,
              kv_tok.value() / 1e3);
  if (moe.imbalance != 1 || moe.slots_per_gpu > 0 || moe.dual_micro_batch)
    std::printf(
        "            experts: busiest GPU %.3fx the mean load, %.2f expert slots/GPU (%d "
        "redundant, %s)%s\n",
        moe.imbalance, moe.slots_per_gpu, p.experts.redundant, to_string(p.experts.rebalancer),
        moe.dual_micro_batch ? ", dual micro-batch" : "");
  if (!decode) {
    // One prompt token through every layer, on one GPU of a stage.
    BatchShape b{1, static_cast<int64_t>(p.chunk_size), static_cast<int64_t>(p.chunk_size)};
    ForwardAccounting f = forward_accounting(m, l, Phase::kPrefill, b);
    Flops total = f.flops[0] + f.flops[1];
    Flops per_gpu_token =
        total / (static_cast<double>(l.gpus()) * static_cast<double>(p.chunk_size));
    const FlopsPerSec peak = g.peak(m.precision.activations);
    std::printf(
        "            FLOPs/GPU: %.2f GFLOP per prompt token (chunk %lld); %s peak %.0f "
        "TFLOP/s -> %.0fk tokens/s/GPU at peak\n",
        per_gpu_token.value() / 1e9, static_cast<long long>(p.chunk_size),
        to_string(m.precision.activations), peak.value() / 1e12,
        peak.value() / per_gpu_token.value() / 1e3);
  } else {
    const double ctx = s.workload.input_length.mean() + s.workload.output_length.mean() / 2;
    const int batch = p.max_batch_size;
    BatchShape b{batch, batch, static_cast<int64_t>(batch * ctx)};
    ForwardAccounting f = forward_accounting(m, l, Phase::kDecode, b);
    // Attention/FFN disaggregation: the attention GPUs read the KV and attention weights
    // only (the experts' bytes are the FFN pool's).
    Bytes bytes =
        (f.bytes[2] + (p.af.enabled() ? Bytes(0) : f.bytes[3])) / static_cast<double>(l.gpus());
    Duration t = bytes / g.memory_bandwidth;
    std::printf(
        "            bytes/GPU per step at batch %d, mean context %.0f: %.2f GB -> %.2f ms "
        "at %.2f TB/s (HBM roofline)\n",
        batch, ctx, bytes.to_gb(), t.to_millis(), g.memory_bandwidth.value() / 1e12);
  }
  return 0;
}

void print_summary(const Scenario& s) {
  const ModelSpec& m = s.model;
  ParameterCount pc = parameter_count(m);
  std::printf("scenario  %s\n          %s (seed %llu)\n", s.name.c_str(), s.file.c_str(),
              static_cast<unsigned long long>(s.seed));
  std::printf("model     %s: %d layers, hidden %d, %s attention (%d heads", m.name.c_str(),
              m.num_layers, m.hidden_size, to_string(m.attention.kind), m.attention.num_heads);
  if (m.attention.kind != AttentionKind::kMla) std::printf(", %d KV", m.attention.num_kv_heads);
  std::printf("), %s FFN", to_string(m.ffn.kind));
  if (m.ffn.kind == FfnKind::kMoe) {
    std::printf(" (%d experts, top-%d, %d shared)", m.ffn.num_experts, m.ffn.top_k,
                m.ffn.num_shared_experts);
  }
  std::printf(
      "\n          %.1fB parameters, %.1fB activated; weights %.1f GB (%s), KV %.1f KB/token "
      "(%s)\n",
      pc.total / 1e9, pc.activated / 1e9, weight_bytes(m).to_gb(), to_string(m.precision.weights),
      kv_bytes_per_token(m).value() / 1e3, to_string(m.precision.kv_cache));
  const WorkloadSpec& w = s.workload;
  std::printf("workload  %s arrivals, %.2f req/s mean, for %.0f s\n", to_string(w.arrival.process),
              w.arrival.rate_per_s, w.duration.to_seconds());
  std::printf("          input %s; output %s\n", length_text(w.input_length).c_str(),
              length_text(w.output_length).c_str());
  std::printf("slo       TTFT %s <= %.0f ms, TPOT %s <= %.0f ms, attainment >= %.0f%%\n",
              percentile_name(s.slo.ttft_percentile).c_str(), s.slo.ttft.to_millis(),
              percentile_name(s.slo.tpot_percentile).c_str(), s.slo.tpot.to_millis(),
              s.slo.attainment * 100);
  std::printf("serving   %s\n", to_string(s.serving.mode));
  std::vector<std::pair<std::string, double>> short_of;  // pool, GB short
  if (s.serving.mode == ServingMode::kDisaggregated) {
    short_of.emplace_back("prefill", print_pool(s, "prefill", s.serving.prefill, false));
    short_of.emplace_back("decode", print_pool(s, "decode", s.serving.decode, true));
  } else {
    short_of.emplace_back("colocated", print_pool(s, "colocated", s.serving.colocated, true));
  }
  std::printf("hardware  %zu GPU types in the catalog\n", s.catalog.gpus.size());
  // The calibrated models simulate and plan would load (InputError on a bad file).
  const CostModels models = cost_models_for(s);
  for (const auto& [gpu, cost] : models)
    if (cost && cost->provenance() != Provenance::kRoofline)
      std::printf("          %s: %s\n", gpu.c_str(), cost->describe().c_str());
  for (const std::string& note : extrapolation_notes(s, models))
    std::printf("warning   cost model: %s\n", note.c_str());
  std::fflush(stdout);
  for (const auto& [pool, gb] : short_of) {
    if (gb > 0) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "expected the model to fit: weights + reserved memory exceed the GPU's "
                    "memory by %.1f GB (DOES NOT FIT; use more GPUs per instance)",
                    gb);
      throw InputError(s.file, "serving." + pool + ".layout", buf);
    }
  }
  std::printf("valid.\n");
}

struct ValidateOptions {
  std::string scenario;
  std::string resolved;
};

struct SchemaOptions {
  bool markdown = false;
};

}  // namespace

void add_validate_command(CLI::App& app) {
  auto v = std::make_shared<ValidateOptions>();
  auto* cmd = app.add_subcommand("validate", "Check a scenario and print a one-screen summary");
  cmd->add_option("scenario", v->scenario, "scenario JSON file")->required();
  cmd->add_option("--resolved", v->resolved,
                  "also write the resolved scenario (every field, includes inlined, units) here");
  cmd->callback([v] {
    const Scenario s = load_scenario(v->scenario);
    print_summary(s);
    if (!v->resolved.empty()) save_scenario(s, v->resolved);
  });

  auto sc = std::make_shared<SchemaOptions>();
  auto* schema = app.add_subcommand("schema", "Print every scenario field: type, default, help");
  schema->add_flag("--markdown", sc->markdown, "as a Markdown table");
  schema->callback([sc] { std::fputs(io::schema_table(sc->markdown).c_str(), stdout); });
}

}  // namespace quadrant::cli
