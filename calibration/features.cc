#include "calibration/features.h"

#include <cstdio>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <utility>
#include <vector>

#include "calibration/kernel_plan.h"
#include "calibration/lt_plan.h"
#include "kernels/plan/dispatch.h"
#include "kernels/plan/launch_plan.h"
#include "kernels/plan/mla_decode_plan.h"
#include "kernels/plan/shape.h"
#include "sim/core/error.h"

namespace quadrant::calibration {

namespace {

double d(int64_t v) {
  return static_cast<double>(v);
}

double element_bytes(NumberFormat f) {
  switch (f) {
    case NumberFormat::kBf16:
      return 2;
    case NumberFormat::kFp8:
    case NumberFormat::kInt8:
      return 1;
    case NumberFormat::kW4A8:
      return 0.5;
  }
  return 2;
}

NumberFormat parse_format(const std::string& f) {
  if (f == "fp8") return NumberFormat::kFp8;
  if (f == "w4a8") return NumberFormat::kW4A8;
  return NumberFormat::kBf16;
}

bool is_prefill(Quadrant q) {
  return q == Quadrant::kPrefillAttention || q == Quadrant::kPrefillFfn;
}

// The kernels' fill hash (kernels/src/common.cu hash_uniform): [0, 1) from seed and index.
float hash_uniform(uint64_t seed, uint64_t index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

}  // namespace

namespace {
// Token t's experts as the profiled MoE op routes them, the first top_k of `row`:
// quadrant-profile prepares every op with seed 1; the MoE op fills its router logits with
// seed 1 * 16 + 2, uniform in [-4, 4) (kernels/src/moe_ffn.cu), and each token takes its
// top_k experts by logit, ties to the lower expert (topk_one_token).
void profiled_top_k(int64_t t, int64_t experts, int64_t top_k,
                    std::vector<std::pair<float, int64_t>>& row) {
  constexpr uint64_t kSeed = 1 * 16 + 2;
  for (int64_t e = 0; e < experts; ++e)
    row[static_cast<size_t>(e)] = {
        std::fma(8.0f, hash_uniform(kSeed, static_cast<uint64_t>(t * experts + e)), -4.0f), e};
  std::partial_sort(row.begin(), row.begin() + top_k, row.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
}
}  // namespace

std::vector<int64_t> profiled_expert_rows(int64_t tokens, int64_t experts, int64_t top_k) {
  std::vector<int64_t> rows(static_cast<size_t>(experts), 0);
  if (top_k >= experts) {
    std::fill(rows.begin(), rows.end(), tokens);
    return rows;
  }
  std::vector<std::pair<float, int64_t>> row(static_cast<size_t>(experts));
  for (int64_t t = 0; t < tokens; ++t) {
    profiled_top_k(t, experts, top_k, row);
    for (int64_t j = 0; j < top_k; ++j)
      ++rows[static_cast<size_t>(row[static_cast<size_t>(j)].second)];
  }
  return rows;
}

int profiled_active_experts(int64_t tokens, int64_t experts, int64_t top_k) {
  // Where every expert is all but certain to receive a row, counting is not needed.
  const double miss = std::pow(1.0 - d(top_k) / d(experts), d(tokens));
  if (d(experts) * miss < 1e-4 || top_k >= experts) return static_cast<int>(experts);
  std::vector<char> hit(static_cast<size_t>(experts), 0);
  std::vector<std::pair<float, int64_t>> row(static_cast<size_t>(experts));
  int active = 0;
  for (int64_t t = 0; t < tokens && active < experts; ++t) {
    profiled_top_k(t, experts, top_k, row);
    for (int64_t j = 0; j < top_k; ++j) {
      char& h = hit[static_cast<size_t>(row[static_cast<size_t>(j)].second)];
      active += h == 0;
      h = 1;
    }
  }
  return active;
}

namespace {}  // namespace

const char* component_name(Quadrant q) {
  return to_string(q);
}

const char* format_name(NumberFormat f) {
  switch (f) {
    case NumberFormat::kBf16:
      return "bf16";
    case NumberFormat::kFp8:
    case NumberFormat::kInt8:
      return "fp8";
    case NumberFormat::kW4A8:
      return "w4a8";
  }
  return "bf16";
}

std::string kernel_variant(const QuadrantShape& s, const kernels::plan::PlanRules& rules) {
  if (s.quadrant == Quadrant::kPrefillFfn || s.quadrant == Quadrant::kDecodeFfn)
    return s.active_experts > 0
               ? moe_ffn_variant(static_cast<double>(s.routed_tokens), s.active_experts,
                                 format_name(s.compute_format), rules)
               : "";
  if (s.quadrant != Quadrant::kPrefillAttention && s.quadrant != Quadrant::kDecodeAttention)
    return "";
  char v[32];
  if (s.v_head_dim != s.qk_head_dim)
    std::snprintf(v, sizeof v, "d%dv%d", s.qk_head_dim, s.v_head_dim);
  else
    std::snprintf(v, sizeof v, "d%d", s.qk_head_dim);
  return v;
}

namespace {

// The L2 of the calibrated GPUs (H100 SXM and H200: 50 MB); a derived GPU keeps it, as it
// keeps their SM count (kPlanSms).
constexpr double kL2Bytes = 50e6;

// Prefill attention's K/V read again by later query tiles that miss the L2: the tiles in
// launch order (heaviest first; the heads of a tile launch together, so the query heads of
// a KV head share its reads), each reading its sequence's keys up to its diagonal for every
// KV head, through an LRU of (sequence, KV head) entries holding the longest prefix read so
// far, evicted beyond kL2Bytes. Returns the misses beyond each sequence's first read of its
// keys (those are in `bytes`). GQA shards with a few KV heads keep their K/V in the L2
// across tiles; MLA's 64-128 KV heads (one per query head) of long prefixes do not.
double kv_reread_miss_bytes(const kernels::plan::PrefillSchedule& sch, int kv_heads,
                            double row_bytes) {
  struct Entry {
    double bytes;
    std::list<int64_t>::iterator at;
  };
  std::unordered_map<int64_t, Entry> held;
  std::list<int64_t> lru;  // most recent first
  double resident = 0, misses = 0;
  for (size_t t = 0; t < sch.tile_seq.size(); ++t) {
    const double want = static_cast<double>(sch.tile_keys[t]) * row_bytes;
    for (int h = 0; h < kv_heads; ++h) {
      const int64_t key = static_cast<int64_t>(sch.tile_seq[t]) * kv_heads + h;
      auto it = held.find(key);
      if (it == held.end()) {
        lru.push_front(key);
        it = held.emplace(key, Entry{0, lru.begin()}).first;
      } else {
        lru.splice(lru.begin(), lru, it->second.at);
      }
      if (want > it->second.bytes) {
        misses += want - it->second.bytes;
        resident += want - it->second.bytes;
        it->second.bytes = want;
      }
      while (resident > kL2Bytes && lru.size() > 1) {
        const auto victim = held.find(lru.back());
        resident -= victim->second.bytes;
        held.erase(victim);
        lru.pop_back();
      }
    }
  }
  double first = 0;  // each sequence's keys, once per KV head
  for (size_t b = 0; b + 1 < sch.cu_k.size(); ++b)
    first += static_cast<double>(sch.cu_k[b + 1] - sch.cu_k[b]) * kv_heads * row_bytes;
  return std::max(0.0, misses - first);
}

void add_plan(Features& f, const KernelPlan& p) {
  f.sched_flops = p.sched_flops;
  f.crit_bytes = p.crit_bytes;
  f.waves = p.waves;
  f.aux_bytes = p.aux_bytes;
  f.serial_bytes = p.serial_bytes;
  f.head_rounds = p.head_rounds;
}

// The plan features from the kernels' own launch plans (kernels/plan/launch_plan.h: the
// functions the launchers call): the planned launches' busiest-slot FLOPs and bytes and
// their rounds over the slots; the bytes of the helper launches (those with under 5% of
// the op's FLOPs: split-KV combine, V transpose, routing, gather, dequantisation,
// combine). The 16-row mma.sync FFN GEMMs are not list-scheduled there: their busiest
// slot streams a 128-row weight slice (and 16 activation rows) per CTA and round.
// false when make_op would reject the shape (no plan: the caller uses the mirror).
bool launch_plan_features(const std::string& quadrant, const std::string& format,
                          const kernels::ShapeParams& params, const kernels::plan::PlanRules& rules,
                          Features& f, bool realized_routing = false) {
  kernels::plan::LaunchPlan p;
  try {
    kernels::plan::PlanOptions options;
    options.rules = rules;
    p = kernels::plan::plan_launches(quadrant, format, params, kPlanSms, options);
  } catch (const std::exception&) {
    return false;
  }
  // A profiled MoE shape: the launches the plan counts from the expected routing
  // (`expected`) scaled to the routing the profiled instance ran (its m-tiles and active
  // experts, replayed on the CPU), which the kernels' plan does not take.
  f.reread_bytes = 0;
  const bool moe = quadrant == "prefill_ffn" || quadrant == "decode_ffn";
  // The 16-row mma.sync GEMMs (gemm_path 0): a CTA per (128 weight rows, m-tile), each over
  // the whole k, so an expert's m-tiles after its first read its weights again (the wgmma
  // path's persistent tiles carry their weight panels in the busiest slot's bytes already).
  // The m-tiles of the routing that ran (a profiled shape) or of the expectation (the
  // simulator's shapes).
  if (moe && p.choice("gemm_path") == 0 && params.count("top_k") && params.count("experts") &&
      params.count("tokens") && params.count("hidden") && params.count("intermediate")) {
    const int64_t tokens = params.at("tokens"), experts = params.at("experts"),
                  top_k = params.at("top_k");
    const int64_t bm = p.choice("block_m");
    double tiles = 0, active = 0;
    if (realized_routing) {
      for (int64_t r : profiled_expert_rows(tokens, experts, top_k)) {
        const int64_t expert_tiles = (r + bm - 1) / bm;  // whole tiles, then the sum
        tiles += static_cast<double>(expert_tiles);
        active += r > 0;
      }
    } else {
      const kernels::plan::ExpectedRouting er = kernels::plan::expected_routing(
          tokens, static_cast<int>(top_k), static_cast<int>(experts), static_cast<int>(bm));
      tiles = er.m_tiles;
      active = er.active_experts;
    }
    const double w = format == "bf16" ? 2 : format == "fp8" ? 1 : 0.5;
    f.reread_bytes = std::max(0.0, tiles - active) * 3.0 *
                     static_cast<double>(params.at("hidden")) *
                     static_cast<double>(params.at("intermediate")) * w;
  }
  if (realized_routing && moe && params.count("top_k") && params.count("experts") &&
      params.count("tokens")) {
    const int64_t tokens = params.at("tokens"), experts = params.at("experts"),
                  top_k = params.at("top_k");
    const int64_t bm = p.choice("block_m");
    const std::vector<int64_t> rows = profiled_expert_rows(tokens, experts, top_k);
    double tiles = 0, active = 0;
    for (int64_t r : rows) {
      const int64_t m_tiles = (r + bm - 1) / bm;  // whole 16/128-row tiles, rounded up
      tiles += static_cast<double>(m_tiles);
      active += r > 0;
    }
    const kernels::plan::ExpectedRouting er = kernels::plan::expected_routing(
        tokens, static_cast<int>(top_k), static_cast<int>(experts), static_cast<int>(bm));
    const double tile_ratio = er.m_tiles > 0 ? tiles / er.m_tiles : 1;
    const double active_ratio = er.active_experts > 0 ? active / er.active_experts : 1;
    for (kernels::plan::KernelLaunch& l : p.launches) {
      if (!l.expected) continue;
      l.work_items *= tile_ratio;
      l.waves *= tile_ratio;
      l.sched_flops *= tile_ratio;
      l.sched_bytes *= tile_ratio;
      l.bytes *= active_ratio;
    }
  }
  // Prefill attention: the K/V a sequence's later query tiles read again and the L2 no
  // longer holds (features.h, kv_reread_miss_bytes).
  if (quadrant == "prefill_attention") {
    const kernels::PrefillAttentionShape a = kernels::parse_prefill_attention(params);
    const bool fp8 = format == "fp8";
    const int rows = kernels::plan::prefill_tile_rows(
        fp8, kernels::plan::prefill_variant(fp8, a.head_dim, a.v_head_dim));
    f.reread_bytes = kv_reread_miss_bytes(
        kernels::plan::prefill_schedule(a.q_lens, a.prefix_lens, rows), a.kv_heads,
        static_cast<double>(a.head_dim + a.v_head_dim) * (fp8 ? 1.0 : 2.0));
  }
  const double total = p.flops();
  f.sched_flops = f.crit_bytes = f.waves = f.aux_bytes = f.serial_bytes = f.head_rounds = 0;
  f.empty_waves = 0;
  const bool ffn = quadrant == "prefill_ffn" || quadrant == "decode_ffn";
  for (const kernels::plan::KernelLaunch& l : p.launches) {
    if (l.flops < 0.05 * total) {
      f.aux_bytes += l.bytes;
      // The split-KV combine: a warp merges one row's partials (head_dim + 1 floats per
      // split; MLA: the 512-wide latent output), its rounds over the slots one after another.
      const bool mla = quadrant == "mla_decode";
      if ((quadrant == "decode_attention" || mla) &&
          l.kernel.find("combine") != std::string::npos && p.choice("split_kv") > 1)
        f.serial_bytes +=
            std::ceil(l.waves - 1e-9) * static_cast<double>(p.choice("split_kv")) *
            ((mla ? kernels::plan::kMlaLatent : static_cast<double>(params.at("head_dim"))) + 1) *
            4;
      continue;
    }
    const double slots = static_cast<double>(kPlanSms) * std::max(1, l.ctas_per_sm);
    const double rounds = std::ceil(l.waves - 1e-9);
    f.waves += rounds;
    if (quadrant == "decode_attention")  // the split kernel: GB query heads per CTA
      f.head_rounds += rounds * static_cast<double>(p.choice("heads_per_cta"));
    if ((quadrant == "decode_attention" || quadrant == "mla_decode") &&
        static_cast<double>(l.grid) > l.work_items)  // splits past a shorter sequence's end
      f.empty_waves += (static_cast<double>(l.grid) - l.work_items) / slots;
    f.sched_flops += l.sched_flops > 0 ? l.sched_flops : l.flops;
    if (l.sched_bytes > 0) {
      f.crit_bytes += l.sched_bytes;
    } else if (ffn && !l.persistent && l.grid > 0) {
      // Split-K (plan choices split_k_gate_up / split_k_down; 0 or absent: none): each CTA
      // streams its k / splits share of the weight slice, and of its block_m activation rows.
      const bool gate_up = l.kernel.find("(gate/up)") != std::string::npos;
      int64_t splits = 1;
      for (const auto& [name, value] : p.choices)
        if (name == (gate_up ? "split_k_gate_up" : "split_k_down"))
          splits = std::max<int64_t>(1, value);
      const double k = (gate_up ? static_cast<double>(params.at("hidden"))
                                : static_cast<double>(params.at("intermediate"))) /
                       static_cast<double>(splits);
      const double w = format == "bf16" ? 2 : format == "fp8" ? 1 : 0.5;
      const double a = format == "bf16" ? 2 : 1;
      const double rows = static_cast<double>(p.choice("block_m"));
      f.crit_bytes += slots * rounds * (kernels::plan::kMoeMmaBlockN * w + rows * a) * k;
    } else {
      f.crit_bytes += l.bytes;
    }
  }
  return true;
}

// Sequence lengths of a shape taken as alike: the sums spread evenly (the remainder over
// the first sequences).
std::vector<int64_t> alike(int64_t total, int seqs) {
  const int64_t n = std::max(1, seqs);
  std::vector<int64_t> v(static_cast<size_t>(n), total / n);
  for (int64_t i = 0; i < total % n; ++i) v[static_cast<size_t>(i)] += 1;
  return v;
}

// The core features of a shape whose per-sequence lengths are known (decode: KV lengths;
// prefill: new tokens per sequence after a common prefix) or, when lens is null, alike.
Features core_features_with(const QuadrantShape& s, const kernels::ShapeParams* params,
                            const kernels::plan::PlanRules& rules, bool with_plan = true);

}  // namespace

CoreWork core_flops_bytes(const QuadrantShape& s) {
  CoreWork w;
  const double eb = element_bytes(s.compute_format);
  if (s.quadrant == Quadrant::kPrefillAttention || s.quadrant == Quadrant::kDecodeAttention) {
    // Query-key pairs as accounting.h counts them for alike sequences (causal in prefill).
    const double seqs = std::max(1, s.num_seqs);
    double pairs = d(s.context_tokens);
    if (is_prefill(s.quadrant)) {
      const double n = d(s.new_tokens) / seqs;
      const double prior = std::max(0.0, d(s.context_tokens) / seqs - n);
      pairs = seqs * (n * prior + n * (n + 1) / 2);
    }
    w.flops = 2.0 * pairs * s.heads * (s.qk_head_dim + s.v_head_dim);
    // KV read once per KV head, queries read and outputs written in bf16.
    // MLA's absorbed decode reads one latent per token that serves as key and value (its
    // first v_head_dim elements): counted once, as accounting.h counts the cache.
    const bool latent = !is_prefill(s.quadrant) && s.qk_head_dim != s.v_head_dim;
    const double kv_elems = latent ? s.qk_head_dim : s.qk_head_dim + s.v_head_dim;
    w.bytes = d(s.context_tokens) * s.kv_heads * kv_elems * eb +
              d(s.new_tokens) * s.heads * (s.qk_head_dim + s.v_head_dim) * 2.0;
    return w;
  }
  if (s.active_experts <= 0) return w;                               // dense FFN: all GEMM work
  w.flops = d(s.routed_tokens) * (6.0 * s.hidden * s.intermediate);  // gate, up, down
  const double act_bytes = s.compute_format == NumberFormat::kBf16 ? 2.0 : 1.0;
  w.bytes = s.active_experts * 3.0 * s.hidden * s.intermediate * eb +
            2.0 * d(s.routed_tokens) * s.hidden * act_bytes;
  return w;
}

Features core_features(const QuadrantShape& s, const kernels::plan::PlanRules& rules) {
  return core_features_with(s, nullptr, rules);
}

Features core_work(const QuadrantShape& s) {
  return core_features_with(s, nullptr, {}, false);
}

namespace {

// The make_op parameters of a QuadrantShape, its sequences taken as alike (a
// QuadrantShape holds only sums), an FFN's rows spread over its active experts one pick
// per row, hidden and intermediate padded to the 128 the kernels need.
kernels::ShapeParams alike_params(const QuadrantShape& s) {
  const int64_t seqs = std::max(1, s.num_seqs);
  auto pad = [](int v) { return (static_cast<int64_t>(v) + 127) / 128 * 128; };
  switch (s.quadrant) {
    case Quadrant::kDecodeAttention:
      return {{"batch", seqs},
              {"kv_len", std::max<int64_t>(1, (s.context_tokens + seqs / 2) / seqs)},
              {"heads", s.heads},
              {"kv_heads", s.kv_heads},
              {"head_dim", s.qk_head_dim}};
    case Quadrant::kPrefillAttention: {
      const int64_t len = std::max<int64_t>(1, (s.new_tokens + seqs / 2) / seqs);
      return {{"batch", seqs},
              {"seq_len", len},
              {"prefix_len", std::max<int64_t>(0, s.context_tokens / seqs - len)},
              {"heads", s.heads},
              {"kv_heads", s.kv_heads},
              {"head_dim", s.qk_head_dim},
              {"v_head_dim", s.v_head_dim}};
    }
    default:
      return {{"tokens", std::max<int64_t>(1, s.routed_tokens)},
              {"experts", s.active_experts},
              {"top_k", 1},
              {"hidden", pad(s.hidden)},
              {"intermediate", pad(s.intermediate)}};
  }
}

Features core_features_with(const QuadrantShape& s, const kernels::ShapeParams* params,
                            const kernels::plan::PlanRules& rules, bool with_plan) {
  Features f;
  const CoreWork work = core_flops_bytes(s);
  if (s.quadrant == Quadrant::kPrefillAttention || s.quadrant == Quadrant::kDecodeAttention) {
    const double seqs = std::max(1, s.num_seqs);
    f.flops = work.flops;
    f.padded_flops = f.flops;
    if (is_prefill(s.quadrant)) {
      const double n = d(s.new_tokens) / seqs;
      const double keys = std::max(n, d(s.context_tokens) / seqs);
      f.unit_flops = 2.0 * std::min(128.0, n) * keys * (s.qk_head_dim + s.v_head_dim);
    }
    // Work units: decode splits each (sequence, KV head) over the KV length; prefill
    // tiles each sequence's queries by 128 rows per query head.
    f.parallelism = is_prefill(s.quadrant)
                        ? seqs * std::max(1, s.heads) * std::ceil(d(s.new_tokens) / seqs / 128.0)
                        : seqs * std::max(1, s.kv_heads);
    const bool latent = !is_prefill(s.quadrant) && s.qk_head_dim != s.v_head_dim;
    f.bytes = work.bytes;
    const double eb = element_bytes(s.compute_format);
    const bool fp8 = s.compute_format != NumberFormat::kBf16;
    if (!with_plan) return f;
    // MLA's absorbed decode (a 576-wide latent row serving as key and value): the MLA kernel's
    // own plan (kernels/plan/mla_decode_plan.h), in BF16, the format it runs.
    if (latent && s.qk_head_dim == kernels::plan::kMlaDim &&
        s.v_head_dim == kernels::plan::kMlaLatent && s.kv_heads == 1 &&
        launch_plan_features("mla_decode", "bf16",
                             params ? *params
                                    : kernels::ShapeParams{{"batch", std::max(1, s.num_seqs)},
                                                           {"kv_len", alike_params(s).at("kv_len")},
                                                           {"heads", s.heads}},
                             rules, f))
      return f;
    if (!latent && launch_plan_features(component_name(s.quadrant), format_name(s.compute_format),
                                        params ? *params : alike_params(s), rules, f))
      return f;
    // A shape the kernels do not run (MLA's absorbed decode, a GQA group that does not
    // divide 8): the mirror's reading of the launcher, an extrapolation either way.
    if (is_prefill(s.quadrant)) {
      const int64_t pre =
          std::max<int64_t>(0, (s.context_tokens - s.new_tokens) / std::max(1, s.num_seqs));
      add_plan(f, prefill_attention_plan(alike(s.new_tokens, s.num_seqs), pre, s.heads, s.kv_heads,
                                         s.qk_head_dim, s.v_head_dim, fp8));
    } else {
      add_plan(f, decode_attention_plan(alike(s.context_tokens, s.num_seqs), s.heads, s.kv_heads,
                                        s.qk_head_dim, eb, latent ? 0 : s.v_head_dim,
                                        rules.decode_split));
    }
    return f;
  }
  if (s.active_experts <= 0) return f;                       // dense FFN: all GEMM work
  const double per_token = 6.0 * s.hidden * s.intermediate;  // gate, up, down
  f.flops = work.flops;
  const double per_expert = std::ceil(d(s.routed_tokens) / s.active_experts);
  f.padded_flops = s.active_experts * std::ceil(per_expert / 128.0) * 128.0 * per_token;
  f.parallelism = s.active_experts * std::ceil(per_expert / 128.0);
  f.bytes = work.bytes;
  if (with_plan &&
      !launch_plan_features(component_name(s.quadrant), format_name(s.compute_format),
                            params ? *params : alike_params(s), rules, f, params != nullptr))
    add_plan(f, moe_ffn_plan(d(s.routed_tokens), s.active_experts, d(s.new_tokens), s.hidden,
                             s.intermediate, format_name(s.compute_format), rules));
  return f;
}

}  // namespace

Features residual_gemm_features(const QuadrantShape& s, const Features& core,
                                const LtPlanTable* lt) {
  Features r;
  r.flops = std::max(0.0, s.flops.value() - core.flops);
  r.padded_flops = r.flops;
  r.bytes = std::max(0.0, s.bytes.value() - core.bytes);
  // Its GEMMs are not itemised: planned as one of m = the shape's tokens and square n x k
  // of the remaining FLOPs (the projections and shared experts are about that).
  const double m =
      std::max(1.0, d(s.quadrant == Quadrant::kPrefillFfn || s.quadrant == Quadrant::kDecodeFfn
                          ? std::max(s.new_tokens, s.routed_tokens)
                          : s.new_tokens));
  if (r.flops > 0) {
    const double nk = std::sqrt(r.flops / (2 * m));
    if (lt) {
      const LtPlanChoice c = lt->find(format_name(s.compute_format), m, nk, nk);
      const KernelPlan p = dense_gemm_lt_plan(m, nk, nk, element_bytes(s.compute_format), c);
      add_plan(r, p);
      r.parallelism = p.ctas;
      r.padded_flops =
          2.0 * std::ceil(nk / c.tile_n) * c.tile_n * std::ceil(m / c.tile_m) * c.tile_m * nk;
    } else {
      add_plan(r, dense_gemm_plan(m, nk, nk, element_bytes(s.compute_format)));
      r.parallelism = std::ceil(m / 128) * std::ceil(nk / 128);
    }
  }
  return r;
}

namespace {

class Params {
 public:
  Params(const ProfileShape& p, std::string where, std::string path)
      : p_(p), where_(std::move(where)), path_(std::move(path)) {}
  int64_t get(const std::string& name) {
    used_.push_back(name);
    auto it = p_.params.find(name);
    if (it == p_.params.end())
      throw InputError(where_, path_ + ".params." + name, "missing (required for this op)");
    if (it->second <= 0)
      throw InputError(where_, path_ + ".params." + name,
                       "expected a positive integer, got " + std::to_string(it->second));
    return it->second;
  }
  int64_t get(const std::string& name, int64_t fallback) {
    return p_.params.count(name) ? get(name) : (used_.push_back(name), fallback);
  }
  void mark(const std::string& name) { used_.push_back(name); }
  void finish() const {
    for (const auto& [name, value] : p_.params)
      if (std::find(used_.begin(), used_.end(), name) == used_.end())
        throw InputError(where_, path_ + ".params." + name, "unknown shape parameter");
  }

 private:
  const ProfileShape& p_;
  std::string where_, path_;
  std::vector<std::string> used_;
};

}  // namespace

QuadrantShape shape_from_params(const std::string& quadrant, const ProfileShape& p,
                                const std::string& where, const std::string& path) {
  Params r(p, where, path);
  QuadrantShape s;
  s.compute_format = parse_format(p.format);
  // Lengths between *_min and the maximum are spread as the kernels spread them (evenly
  // over the batch, kernels/src/decode_attention.cu); their sum is what the cost sees.
  auto spread_sum = [](int64_t batch, int64_t lo, int64_t hi) {
    int64_t sum = 0;
    for (int64_t b = 0; b < batch; ++b)
      sum += lo + (hi - lo) * ((b * 7919) % batch) / std::max<int64_t>(1, batch - 1);
    return sum;
  };
  if (quadrant == "mla_decode") {
    // MLA's absorbed decode: one 576-wide latent row per token (c_kv 512 | k_rope 64) shared
    // by every head, read as key and value; the output is the 512-wide latent.
    s.quadrant = Quadrant::kDecodeAttention;
    s.num_seqs = static_cast<int>(r.get("batch"));
    const int64_t kv_len = r.get("kv_len");
    s.new_tokens = s.num_seqs;
    s.context_tokens = spread_sum(s.num_seqs, r.get("kv_len_min", kv_len), kv_len);
    s.heads = static_cast<int>(r.get("heads"));
    s.kv_heads = 1;
    s.qk_head_dim = kernels::plan::kMlaDim;
    s.v_head_dim = kernels::plan::kMlaLatent;
    r.get("block_size", 64);  // paging granularity: not a cost feature
  } else if (quadrant == "decode_attention") {
    s.quadrant = Quadrant::kDecodeAttention;
    s.num_seqs = static_cast<int>(r.get("batch"));
    const int64_t kv_len = r.get("kv_len");
    s.new_tokens = s.num_seqs;
    s.context_tokens = spread_sum(s.num_seqs, r.get("kv_len_min", kv_len), kv_len);
    s.heads = static_cast<int>(r.get("heads"));
    s.kv_heads = static_cast<int>(r.get("kv_heads"));
    s.qk_head_dim = static_cast<int>(r.get("head_dim"));
    s.v_head_dim = s.qk_head_dim;
    r.get("block_size", 16);  // paging granularity: not a cost feature
  } else if (quadrant == "prefill_attention") {
    // Sequences of one prefill are taken as alike (accounting.h does the same), so shapes
    // with a spread of lengths enter with their mean length.
    s.quadrant = Quadrant::kPrefillAttention;
    s.num_seqs = static_cast<int>(r.get("batch"));
    const int64_t seq_len = r.get("seq_len");
    const int64_t prefix = p.params.count("prefix_len") ? p.params.at("prefix_len") : 0;
    if (prefix < 0) throw InputError(where, path + ".params.prefix_len", "expected >= 0");
    r.mark("prefix_len");
    s.new_tokens = spread_sum(s.num_seqs, r.get("seq_len_min", seq_len), seq_len);
    s.context_tokens = s.new_tokens + s.num_seqs * prefix;
    s.heads = static_cast<int>(r.get("heads"));
    s.kv_heads = static_cast<int>(r.get("kv_heads"));
    s.qk_head_dim = static_cast<int>(r.get("head_dim"));
    s.v_head_dim = static_cast<int>(r.get("v_head_dim", s.qk_head_dim));
  } else if (quadrant == "prefill_ffn" || quadrant == "decode_ffn") {
    s.quadrant = quadrant == "prefill_ffn" ? Quadrant::kPrefillFfn : Quadrant::kDecodeFfn;
    const int64_t tokens = r.get("tokens");
    const int64_t experts = r.get("experts");
    const int64_t top_k = r.get("top_k");
    s.new_tokens = tokens;
    s.routed_tokens = tokens * top_k;
    // The experts the profiled instance's routing reached (seeded, replayed on the CPU), not
    // the expectation of random routing a QuadrantShape of the simulator carries: at a few
    // tokens the two differ by an expert or two, 5-15% of the weights read.
    s.active_experts = profiled_active_experts(tokens, experts, top_k);
    s.hidden = static_cast<int>(r.get("hidden"));
    s.intermediate = static_cast<int>(r.get("intermediate"));
  } else {
    throw InputError(where, path, "no QuadrantShape for op \"" + quadrant + "\"");
  }
  r.finish();
  Features f = core_features(s);
  s.flops = Flops(f.flops);
  s.bytes = Bytes(f.bytes);
  return s;
}

Features dense_gemm_features(double m, double n, double k, const std::string& format,
                             const LtPlanTable* lt) {
  const double eb = format == "bf16" ? 2.0 : 1.0;
  Features f;
  f.flops = 2.0 * m * n * k;
  f.bytes = (m * k + k * n) * eb + m * n * 2.0;
  f.padded_flops = 2.0 * std::ceil(m / 128) * 128 * std::ceil(n / 128) * 128 * k;
  f.parallelism = std::ceil(m / 128) * std::ceil(n / 128);
  f.gemm_n = n;
  f.gemm_k = k;
  add_plan(f, lt ? dense_gemm_lt_plan(m, n, k, eb, lt->find(format, m, n, k))
                 : dense_gemm_plan(m, n, k, eb));
  return f;
}

Features profile_features(const std::string& quadrant, const ProfileShape& p,
                          const std::string& where, const std::string& path, const LtPlanTable* lt,
                          const kernels::plan::PlanRules& rules) {
  if (quadrant == "dense_gemm") {
    Params r(p, where, path);
    const double m = d(r.get("m")), n = d(r.get("n")), k = d(r.get("k"));
    r.finish();
    return dense_gemm_features(m, n, k, p.format, lt);
  }
  // The launch plan of the profiled parameters themselves: each sequence's own length.
  const kernels::ShapeParams params(p.params.begin(), p.params.end());
  return core_features_with(shape_from_params(quadrant, p, where, path), &params, rules);
}

std::string profile_variant(const std::string& quadrant, const ProfileShape& p,
                            const std::string& where, const std::string& path,
                            const kernels::plan::PlanRules& rules) {
  return quadrant == "dense_gemm"
             ? ""
             : kernel_variant(shape_from_params(quadrant, p, where, path), rules);
}

}  // namespace quadrant::calibration
