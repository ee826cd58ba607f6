#include "calibration/kernel_plan.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <utility>

#include "kernels/plan/dispatch.h"
#include "kernels/plan/launch_plan.h"

namespace quadrant::calibration {

namespace {

double ceil_div(double a, double b) {
  return std::ceil(a / b - 1e-9);
}

// One CTA of a launch: its length in the kernel's own unit of work (KV tiles, tokens),
// with its FLOPs and bytes.
struct Cta {
  double work, flops, bytes;
};

// The hardware's block scheduler hands CTAs out in launch order to whichever slot frees
// first: a list schedule. Returns the busiest slot's FLOPs and bytes, times the slots
// (so that a perfectly even launch gives back its totals).
std::pair<double, double> list_schedule(const std::vector<Cta>& ctas, double slots) {
  const size_t n = static_cast<size_t>(std::max(1.0, slots));
  if (ctas.empty()) return {0, 0};
  // One wave: the largest CTA alone sets the busiest slot.
  if (ctas.size() <= n) {
    const Cta& big = *std::max_element(ctas.begin(), ctas.end(),
                                       [](const Cta& a, const Cta& b) { return a.work < b.work; });
    return {big.flops * static_cast<double>(n), big.bytes * static_cast<double>(n)};
  }
  // Alike CTAs go round the slots in turn: the first ones get one more.
  if (std::all_of(ctas.begin(), ctas.end(), [&](const Cta& c) { return c.work == ctas[0].work; })) {
    const double rounds = std::ceil(static_cast<double>(ctas.size()) / static_cast<double>(n));
    return {rounds * ctas[0].flops * static_cast<double>(n),
            rounds * ctas[0].bytes * static_cast<double>(n)};
  }
  struct Slot {
    double end, flops, bytes;
  };
  std::vector<Slot> s;
  s.reserve(std::min(n, ctas.size()));
  auto later = [&](size_t a, size_t b) { return s[a].end > s[b].end; };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> free(later);
  for (const Cta& c : ctas) {
    if (s.size() < n) {
      s.push_back({c.work, c.flops, c.bytes});
      free.push(s.size() - 1);
      continue;
    }
    const size_t i = free.top();
    free.pop();
    s[i].end += c.work;
    s[i].flops += c.flops;
    s[i].bytes += c.bytes;
    free.push(i);
  }
  const Slot& busiest = *std::max_element(
      s.begin(), s.end(), [](const Slot& a, const Slot& b) { return a.end < b.end; });
  return {busiest.flops * static_cast<double>(n), busiest.bytes * static_cast<double>(n)};
}

}  // namespace

double expected_tiles_per_bin(double n, double bins, double tile) {
  n = std::max(0.0, std::round(n));
  if (n <= 0) return 0;
  if (bins <= 1) return ceil_div(n, tile);
  const double p = 1.0 / bins;
  const double mu = n * p, sd = std::sqrt(n * p * (1 - p));
  const double lo = std::max(0.0, std::floor(mu - 12 * sd - 1));
  const double hi = std::min(n, std::ceil(mu + 12 * sd + 1));
  const double lgn = std::lgamma(n + 1), lp = std::log(p), lq = std::log1p(-p);
  double sum = 0;
  for (double x = lo; x <= hi; x += 1) {
    const double lpmf = lgn - std::lgamma(x + 1) - std::lgamma(n - x + 1) + x * lp + (n - x) * lq;
    sum += ceil_div(x, tile) * std::exp(lpmf);
  }
  return sum;
}

KernelPlan decode_attention_plan(const std::vector<int64_t>& kv_lens, int heads, int kv_heads,
                                 int head_dim, double kv_bytes, int v_dim,
                                 kernels::plan::DecodeSplitModel split_model) {
  KernelPlan p;
  const bool fp8 = kv_bytes < 2;
  p.path = head_dim == 128 ? "mma" : "simt";
  const double batch = static_cast<double>(kv_lens.size());
  if (kv_lens.empty() || heads <= 0 || kv_heads <= 0) return p;
  // decode_attention.cu: GB query heads per CTA (a GQA group, at most 8), the split count
  // of the kernels' own heuristic (kernels/plan/dispatch.h). The shapes this mirror plans
  // are those the kernels refuse: a GQA group that does not divide 8 takes the split of
  // the next group they run, a head dim they lack (MLA's 576-wide latent) that of the
  // nearest they have.
  const int group = std::max(1, heads / kv_heads);
  const int legal = group > 8 ? (group + 7) / 8 * 8 : group > 4 ? 8 : group > 2 ? 4 : group;
  const int dim = head_dim <= 64 ? 64 : head_dim <= 128 ? 128 : 256;
  const int64_t max_len = *std::max_element(kv_lens.begin(), kv_lens.end());
  const kernels::plan::DecodeSplit split =
      kernels::plan::decode_attention_split(static_cast<int64_t>(batch), legal * kv_heads, kv_heads,
                                            dim, fp8, max_len, kPlanSms, true, 0, 0, split_model);
  const int gb = std::min(group, 8);
  const double groups = std::ceil(static_cast<double>(heads) / gb);
  const double chunk = split.chunk;
  const double splits = ceil_div(static_cast<double>(max_len), chunk);
  p.slots = kPlanSms * (split.tensor_cores
                            ? kernels::plan::decode_ctas_per_sm(split.tensor_cores, fp8, gb)
                            : kernels::plan::decode_split_ctas_per_sm(dim, fp8, gb));
  std::vector<Cta> ctas;
  ctas.reserve(static_cast<size_t>(batch * groups * splits));
  const double per_token_bytes = (head_dim + (v_dim < 0 ? head_dim : v_dim)) * kv_bytes;
  for (int64_t len : kv_lens)  // blockIdx.z: sequence (slowest)
    for (double g = 0; g < groups; ++g)
      for (double s = 0; s < splits; ++s) {  // blockIdx.x: split (fastest)
        const double tokens = std::clamp(static_cast<double>(len) - s * chunk, 0.0, chunk);
        // An empty split still runs its prologue and writes an empty partial.
        ctas.push_back({tokens + 32, 4.0 * tokens * gb * head_dim, tokens * per_token_bytes});
      }
  p.ctas = static_cast<double>(ctas.size());
  p.waves = ceil_div(p.ctas, p.slots);
  p.head_rounds = p.waves * gb;
  std::tie(p.sched_flops, p.crit_bytes) = list_schedule(ctas, p.slots);
  // Split partials (output and log-sum-exp, float) of the sequences with more than one
  // split, written then read by the combine, and the BF16 output.
  double merged = 0;
  for (int64_t len : kv_lens) {
    const double n = ceil_div(static_cast<double>(len), chunk);
    merged += n > 1 ? n : 0;
  }
  p.aux_bytes = merged * heads * (head_dim + 1) * 4.0 * 2 + batch * heads * head_dim * 2.0;
  // The combine: a warp per (sequence, head) row, 4 rows per CTA, 16 CTAs per SM.
  if (splits > 1)
    p.serial_bytes = ceil_div(batch * heads, kPlanSms * 16.0 * 4) * splits * (head_dim + 1) * 4.0;
  return p;
}

KernelPlan prefill_attention_plan(const std::vector<int64_t>& q_lens, int64_t prefix, int heads,
                                  int kv_heads, int qk_dim, int v_dim, bool fp8) {
  KernelPlan p;
  // prefill_attention.cu: the wgmma kernel where sm90_prefill_supported(), else mma.sync.
  const bool sm90 = fp8 ? qk_dim == 128 && v_dim == 128
                        : (qk_dim == 64 && v_dim == 64) || (qk_dim == 128 && v_dim == 128) ||
                              (qk_dim == 192 && v_dim == 128);
  p.path = sm90 ? (fp8 ? "wgmma3" : "wgmma") : "mma";
  const double rows = sm90 ? (fp8 ? 192 : 128) : 64;  // query rows per CTA
  const double keys = sm90 ? 128 : 64;                // keys per K/V tile
  const double eb = fp8 ? 1 : 2;
  if (sm90) {
    p.slots = kPlanSms;  // about 230 KB of shared memory: one CTA per SM
  } else {
    const double smem = 64.0 * qk_dim * 2 + 2 * (64.0 * qk_dim * 2 + 64.0 * v_dim * 2) +
                        (fp8 ? 64.0 * qk_dim + 2 * 64.0 * (qk_dim + v_dim) : 0);
    p.slots = kPlanSms * std::clamp(std::floor(228.0 * 1024 / (smem + 1024)), 1.0, 16.0);
  }
  struct Tile {
    double work, kv_end;
  };
  std::vector<Tile> tiles;
  double total_k = 0, total_q = 0;
  for (int64_t len : q_lens) {
    for (double q0 = 0; q0 < static_cast<double>(len); q0 += rows)
      tiles.push_back(
          {static_cast<double>(prefix) + q0 + rows,
           std::min(static_cast<double>(prefix) + q0 + rows, static_cast<double>(prefix + len))});
    total_k += static_cast<double>(prefix + len);
    total_q += static_cast<double>(len);
  }
  // Heaviest tiles first (stable), as the op builds its tile list.
  std::stable_sort(tiles.begin(), tiles.end(),
                   [](const Tile& a, const Tile& b) { return a.work > b.work; });
  std::vector<Cta> ctas;
  ctas.reserve(tiles.size() * static_cast<size_t>(std::max(1, heads)));
  auto cta = [&](const Tile& t) {
    const double kv_tiles = ceil_div(t.kv_end, keys);
    return Cta{kv_tiles + 1, 2.0 * rows * kv_tiles * keys * (qk_dim + v_dim),
               kv_tiles * keys * (qk_dim + v_dim) * eb + rows * qk_dim * eb};
  };
  if (sm90) {  // grid (heads, tiles): heads fastest
    for (const Tile& t : tiles)
      for (int h = 0; h < heads; ++h) ctas.push_back(cta(t));
  } else {  // grid (tiles, heads): tiles fastest
    for (int h = 0; h < heads; ++h)
      for (const Tile& t : tiles) ctas.push_back(cta(t));
  }
  p.ctas = static_cast<double>(ctas.size());
  p.waves = ceil_div(p.ctas, p.slots);
  std::tie(p.sched_flops, p.crit_bytes) = list_schedule(ctas, p.slots);
  // The BF16 output; FP8 on wgmma transposes V first (read and written once).
  p.aux_bytes =
      total_q * heads * v_dim * 2.0 + (p.path == "wgmma3" ? total_k * kv_heads * v_dim * 2.0 : 0);
  return p;
}

const char* moe_ffn_path(double rows, int experts) {
  return rows >= 48.0 * std::max(1, experts) ? "wgmma" : "mma16";
}

const char* moe_ffn_variant(double rows, int experts, const std::string& format,
                            const kernels::plan::PlanRules& rules) {
  const char* path = moe_ffn_path(rows, experts);
  return format == "w4a8" && path == std::string("wgmma") &&
                 kernels::plan::moe_w4_int4_in_producer(rules.w4a8_prefill_dequant, rows, experts)
             ? "wgmma-int4"
             : path;
}

KernelPlan moe_ffn_plan(double rows, int experts, double tokens, int hidden, int intermediate,
                        const std::string& format, const kernels::plan::PlanRules& rules) {
  KernelPlan p;
  p.path = moe_ffn_path(rows, experts);
  if (rows <= 0 || experts <= 0) return p;
  const double h = hidden, i = intermediate, e = experts;
  // W4A8 on wgmma with the INT4 dequantised in the GEMM's producer (the plan rule): INT4 read.
  const bool w4_producer =
      format == "w4a8" && p.path == std::string("wgmma") &&
      kernels::plan::moe_w4_int4_in_producer(rules.w4a8_prefill_dequant, rows, experts);
  // Weights as the GEMM reads them (W4A8: E4M3, or INT4 in the producer).
  const double wb = format == "bf16" ? 2 : w4_producer ? 0.5 : 1;
  const double ab = format == "bf16" ? 2 : 1;  // activations
  // (n, k) of the two GEMMs: gate/up (SiLU * up fused on wgmma), then down.
  const double n1 = 2 * i, k1 = h, n2 = h, k2 = i;
  if (p.path == std::string("wgmma")) {
    // sm90_grouped_gemm.cu: persistent CTAs (one per SM) over (128-row m-tile, 256-wide
    // n-tile) items, gate/up and down one after the other.
    p.slots = kPlanSms;
    const double m_tiles = std::round(e * expected_tiles_per_bin(rows, e, 128));
    const double items1 = m_tiles * ceil_div(n1, 256), items2 = m_tiles * ceil_div(n2, 256);
    const double w1 = ceil_div(items1, kPlanSms), w2 = ceil_div(items2, kPlanSms);
    p.ctas = items1 + items2;
    p.waves = w1 + w2;
    p.sched_flops = kPlanSms * (w1 * 2 * 128 * 256 * k1 + w2 * 2 * 128 * 256 * k2);
    p.crit_bytes = kPlanSms * (w1 * (256 * wb + 128 * ab) * k1 + w2 * (256 * wb + 128 * ab) * k2);
  } else {
    // moe_ffn.cu mma.sync: grid (n / 128, 16-row tiles; W4A8 form 14 32 from 12 rows per expert),
    // the CTAs per SM of the plan rules (about four by shared memory; by registers BF16 3, FP8 2,
    // W4A8 4).
    namespace kp = kernels::plan;
    const bool bf16 = format == "bf16", w4 = format == "w4a8";
    // The wgmma decode GEMMs (FP8 under its rule, W4A8 forms 11-18): their launch bounds.
    const bool fp8_wgmma = format == "fp8" && rules.fp8_decode_gemm == kp::Fp8DecodeGemm::kWgmma;
    const bool w4_wgmma = w4 && kp::moe_w4_wg_form(rules.w4a8_decode_form);
    p.slots = kPlanSms * (fp8_wgmma ? kp::kMoeFp8WgCtasPerSm
                          : rules.moe_mma_residency == kp::MoeMmaResidency::kRegisters || w4_wgmma
                              ? kp::moe_mma_ctas_per_sm(bf16, w4 ? rules.w4a8_decode_form : 0,
                                                        kp::moe_mma_stages(bf16))
                              : 4.0);
    const double bm = w4 && rules.w4a8_decode_form == kp::kMoeW4WgTilesForm
                          ? kp::moe_mma_block_m(static_cast<int64_t>(std::llround(rows)), experts,
                                                rules.w4a8_decode_form, kp::kMoeMmaBlockMAuto)
                          : 16;
    const double tiles = std::round(e * expected_tiles_per_bin(rows, e, bm));
    const double c1 = ceil_div(n1, 128) * tiles, c2 = ceil_div(n2, 128) * tiles;
    const double w1 = ceil_div(c1, p.slots), w2 = ceil_div(c2, p.slots);
    p.ctas = c1 + c2;
    p.waves = w1 + w2;
    p.sched_flops = p.slots * (w1 * 2 * bm * 128 * k1 + w2 * 2 * bm * 128 * k2);
    // Each CTA streams a 128-row slice of its expert's weights: the L2-level traffic of the
    // weight re-reads (DRAM sees each active expert's weights about once).
    p.crit_bytes = p.slots * (w1 * (128 * wb + bm * ab) * k1 + w2 * (128 * wb + bm * ab) * k2);
  }
  // Routing (scores), gather of the rows (BF16 in, activations out), combine (BF16 rows
  // in, tokens out); mma.sync keeps the gate/up output in a BF16 buffer that the SiLU
  // kernel reads; W4A8 on wgmma dequantises every expert's INT4 weights to E4M3 (unless the
  // GEMM's producer does, stage by stage).
  p.aux_bytes = tokens * e * 4 + rows * h * (2 + ab) + rows * h * 2 + tokens * h * 2;
  if (p.path != std::string("wgmma")) p.aux_bytes += rows * n1 * 2 * 2 + rows * i * ab;
  if (format == "w4a8" && p.path == std::string("wgmma") && !w4_producer)
    p.aux_bytes += e * 3 * h * i * 1.5;
  return p;
}

KernelPlan dense_gemm_plan(double m, double n, double k, double element_bytes) {
  KernelPlan p;
  p.path = "cublaslt";
  p.slots = kPlanSms;
  p.ctas = ceil_div(m, 128) * ceil_div(n, 128);
  p.waves = ceil_div(p.ctas, p.slots);
  p.sched_flops = kPlanSms * p.waves * 2 * 128 * 128 * k;
  p.crit_bytes = kPlanSms * p.waves * 256 * k * element_bytes;
  p.aux_bytes = m * n * 2;
  return p;
}

}  // namespace quadrant::calibration
