#include "sim/planner/analytic_bounds.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace quadrant::planner {

namespace {

Duration roofline(const QuadrantShape& q, const GpuSpec& g) {
  const double compute_s =
      q.flops.value() / (g.peak(q.compute_format).value() * g.compute_efficiency);
  const double memory_s = q.bytes.value() / (g.memory_bandwidth.value() * g.memory_efficiency);
  return Duration::seconds(std::max(compute_s, memory_s)) + g.kernel_overhead;
}

std::string format(const char* fmt, double a, double b) {
  char buf[160];
  std::snprintf(buf, sizeof buf, fmt, a, b);
  return buf;
}

// What one quadrant's kernels cost the bound on one GPU type: the datasheet roofline, or
// the cost model the simulation runs on that type (its mean; with an engine measured on
// this model, times the engine's efficiency on the quadrant where that is below 1, its
// added per-step terms left out), never more than the simulator's step pays for the
// quadrant.
struct Pricer {
  const GpuSpec* gpu = nullptr;
  const CostModel* model = nullptr;  // null: the roofline
  const EngineOverhead* engine = nullptr;
  Duration operator()(const QuadrantShape& q) const {
    if (model == nullptr) return roofline(q, *gpu);
    const Duration t = model->predict_core(q).mean;
    if (engine == nullptr) return t;
    double f = 1;
    switch (q.quadrant) {
      case Quadrant::kPrefillAttention:
        f = engine->prefill_attention;
        break;
      case Quadrant::kDecodeAttention:
        // A decode-only step may use its launch table's factor instead.
        f = engine->attention_launch.kv_bounds.empty()
                ? engine->decode_attention
                : std::min(engine->decode_attention, engine->decode_only_attention);
        break;
      case Quadrant::kPrefillFfn:
        f = engine->prefill_ffn;
        break;
      case Quadrant::kDecodeFfn:
        f = engine->decode_ffn;
        break;
    }
    return t.scaled(std::clamp(f, 0.0, 1.0));
  }
};

// The roofline on the datasheet of `g` unless `models` has a model for the type `name`
// that is not the roofline (the roofline model prices exactly as roofline() does).
Pricer pricer(const GpuSpec& g, const std::string& name, const CostModels* models,
              const ModelSpec& m) {
  Pricer p;
  p.gpu = &g;
  if (models == nullptr) return p;
  const auto it = models->find(name);
  if (it == models->end() || it->second == nullptr ||
      it->second->provenance() == Provenance::kRoofline)
    return p;
  p.model = it->second.get();
  p.engine = p.model->engine_overhead(m);
  return p;
}

Duration step_time(const ModelSpec& m, const Pricer& g, const Layout& l, Phase phase,
                   const BatchShape& b) {
  // Each GPU runs its stage's layers; a micro-batch passes every stage, so the step's
  // latency is all layers' per-GPU time.
  Duration total = g(attention_shape(m, l, phase, b)) * m.num_layers;
  const Duration moe = g(ffn_shape(m, l, phase, b.new_tokens, true));
  const Duration dense = g(ffn_shape(m, l, phase, b.new_tokens, false));
  for (int i = 0; i < m.num_layers; ++i) total += m.is_moe_layer(i) ? moe : dense;
  return total;
}

Duration af_step_time(const ModelSpec& m, const Pricer& g, const Layout& l, const Pricer& f,
                      int ffn_gpus, Phase phase, const BatchShape& b) {
  Duration attention = g(attention_shape(m, l, phase, b)) * m.num_layers;
  const Duration dense = g(ffn_shape(m, l, phase, b.new_tokens, false));
  const Duration moe = f(ffn_shape(m, af_ffn_layout(ffn_gpus), phase, b.new_tokens, true));
  Duration experts;
  for (int i = 0; i < m.num_layers; ++i) {
    if (m.is_moe_layer(i)) {
      experts += moe;
    } else {
      attention += dense;
    }
  }
  return max(attention, experts);
}

RoleBound role_bound(const Scenario& s, const RoleConfig& c, const CostModels* models);

}  // namespace

BatchShape prefill_batch(int seqs, int64_t input) {
  BatchShape b;
  b.num_seqs = seqs;
  b.new_tokens = seqs * input;
  b.context_tokens = seqs * input;
  b.attention_pairs = seqs * (input * (input + 1) / 2);
  return b;
}

BatchShape decode_batch(int seqs, int64_t context) {
  BatchShape b;
  b.num_seqs = seqs;
  b.new_tokens = seqs;
  b.context_tokens = seqs * context;
  b.attention_pairs = seqs * context;
  return b;
}

Duration roofline_step_time(const ModelSpec& m, const GpuSpec& g, const Layout& l, Phase phase,
                            const BatchShape& b) {
  return step_time(m, pricer(g, g.name, nullptr, m), l, phase, b);
}

Duration af_roofline_step_time(const ModelSpec& m, const GpuSpec& g, const Layout& l,
                               const GpuSpec& f, int ffn_gpus, Phase phase, const BatchShape& b) {
  return af_step_time(m, pricer(g, g.name, nullptr, m), l, pricer(f, f.name, nullptr, m), ffn_gpus,
                      phase, b);
}

RoleBound roofline_role_bound(const Scenario& s, const RoleConfig& c) {
  return role_bound(s, c, nullptr);
}

RoleBound cost_model_role_bound(const Scenario& s, const RoleConfig& c, const CostModels& models) {
  return role_bound(s, c, &models);
}

namespace {

RoleBound role_bound(const Scenario& s, const RoleConfig& c, const CostModels* models) {
  RoleBound out;
  const GpuSpec* g = s.catalog.find(c.gpu);
  if (g == nullptr) {
    out.reason = "GPU type '" + c.gpu + "' is not in the catalog";
    return out;
  }
  const GpuSpec* f = c.af.enabled() ? s.catalog.find(c.af.ffn_gpu) : nullptr;
  if (c.af.enabled() && f == nullptr) {
    out.reason = "GPU type '" + c.af.ffn_gpu + "' is not in the catalog";
    return out;
  }
  const Pricer gp = pricer(*g, c.gpu, models, s.model);
  const Pricer fp = f != nullptr ? pricer(*f, c.af.ffn_gpu, models, s.model) : Pricer{};
  auto step_at = [&](Phase phase, const BatchShape& b) {
    return f != nullptr ? af_step_time(s.model, gp, c.layout, fp, c.af.ffn_gpus, phase, b)
                        : step_time(s.model, gp, c.layout, phase, b);
  };
  const MemoryFit fit = c.af.enabled()
                            ? af_memory_fit(s, c)
                            : memory_fit(s, c.gpu, c.layout, c.role, c.redundant_experts);
  if (!fit.fits) {
    out.reason = fit.reason;
    return out;
  }
  const int64_t input = std::max<int64_t>(1, std::llround(s.workload.input_length.mean()));
  const int64_t output = std::max<int64_t>(1, std::llround(s.workload.output_length.mean()));
  const double ttft_slo = s.slo.ttft.to_seconds();
  const double tpot_slo = s.slo.tpot.to_seconds();

  // Prefill: one request alone must meet the TTFT SLO; the throughput bound batches as
  // many whole prompts as the token budget takes (weights read once per step). Prefix
  // cache hits are not computed: the bound prefills the misses alone (optimistic: they
  // attend to the cached prefix too).
  double prefill_rate = 0;
  if (c.role != Role::kDecode) {
    // Tier hits are loaded, not computed: the bound (optimistic) takes them as free.
    const PoolSpec& entry = c.role == Role::kPrefill ? s.serving.prefill : s.serving.colocated;
    const double hits = std::min(1.0, entry.prefix_hit_rate + entry.shared_tier_hit_rate);
    const int64_t computed =
        std::max<int64_t>(1, std::llround(static_cast<double>(input) * (1 - hits)));
    const Duration alone = step_at(Phase::kPrefill, prefill_batch(1, computed));
    out.latency = alone;
    if (alone.to_seconds() > ttft_slo) {
      out.reason = format("one %.0f-token prefill takes %.3f s on the roofline", double(computed),
                          alone.to_seconds()) +
                   ", above the TTFT SLO";
      return out;
    }
    const int seqs = static_cast<int>(std::max<int64_t>(1, c.max_batch_tokens / computed));
    const Duration step = step_at(Phase::kPrefill, prefill_batch(seqs, computed));
    prefill_rate = seqs / step.to_seconds() * c.layout.pp;  // stages overlap micro-batches
  }

  // Decode: the largest batch that fits the KV cache at the mean context and whose step
  // meets the TPOT SLO; the rate is that batch's tokens/s over the output length. With
  // speculative decoding a step verifies k + 1 tokens per sequence after k draft steps
  // (draft_cost_ratio of a one-token step each) and yields E = (1 - a^(k+1)) / (1 - a) of
  // them on average: TPOT is the step over E.
  double decode_rate = 0;
  if (c.role != Role::kPrefill) {
    const int64_t context = input + output / 2;
    const int kv_batch = static_cast<int>(std::min<double>(
        c.max_batch_size, std::floor(fit.kv_tokens / static_cast<double>(context))));
    const SpeculativeSpec spec = speculative_of(s, c);
    const int q = spec.enabled ? spec.draft_length + 1 : 1;
    const double yield = spec.expected_tokens_per_step();
    auto step = [&](int batch) {
      BatchShape verify = decode_batch(batch, context);
      verify.new_tokens *= q;
      Duration t = step_at(Phase::kDecode, verify);
      if (spec.enabled)
        t += step_at(Phase::kDecode, decode_batch(batch, context))
                 .scaled(spec.draft_length * spec.draft_cost_ratio);
      return spec.enabled ? t.scaled(1 / yield) : t;  // per token yielded
    };
    const Duration one = step(1);
    if (c.role == Role::kDecode) out.latency = one;
    if (kv_batch < 1) {
      out.reason = "the KV cache holds less than one sequence of the mean length";
      return out;
    }
    if (one.to_seconds() > tpot_slo) {
      out.reason = format(spec.enabled ? "a decode step at batch 1 takes %.1f ms per token "
                                         "yielded on the roofline, above the TPOT SLO of %.1f ms"
                                       : "a decode step at batch 1 takes %.1f ms on the roofline, "
                                         "above the TPOT SLO of %.1f ms",
                          one.to_millis(), tpot_slo * 1e3);
      return out;
    }
    // Step time grows with the batch: bisect for the largest batch within the TPOT SLO.
    int lo = 1, hi = kv_batch;
    while (lo < hi) {
      const int mid = lo + (hi - lo + 1) / 2;
      if (step(mid).to_seconds() <= tpot_slo) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    out.max_batch = lo;
    decode_rate = lo / (static_cast<double>(output) * step(lo).to_seconds()) * c.layout.pp;
  }

  switch (c.role) {
    case Role::kPrefill:
      out.max_rate_per_s = prefill_rate;
      break;
    case Role::kDecode:
      out.max_rate_per_s = decode_rate;
      break;
    case Role::kColocated:
      // Both phases share the GPUs: their busy times per request add.
      out.max_rate_per_s = 1.0 / (1.0 / prefill_rate + 1.0 / decode_rate);
      break;
  }
  out.feasible = out.max_rate_per_s > 0;
  if (!out.feasible) out.reason = "no positive rate bound";
  return out;
}

}  // namespace

}  // namespace quadrant::planner
