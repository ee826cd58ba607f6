#include "kernels/plan/launch_plan.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <utility>

#include "kernels/plan/dispatch.h"
#include "kernels/plan/mla_decode_plan.h"

namespace quadrant::kernels::plan {
namespace {

// Hopper: 228 KB of shared memory and 2048 threads per SM; 1 KB of each CTA's shared memory
// is reserved by the system.
constexpr int kSmemPerSm = 228 * 1024, kThreadsPerSm = 2048, kSmemReserved = 1024;

int fit_per_sm(int block, int smem_bytes) {
  const int by_threads = kThreadsPerSm / block;
  const int by_smem = kSmemPerSm / (smem_bytes + kSmemReserved);
  return std::max(1, std::min({by_threads, by_smem, 32}));
}

// Hopper: 64K 32-bit registers per SM, given to a warp in units of 256 (8 per thread).
constexpr int kRegistersPerSm = 64 * 1024;

KernelLaunch launch(std::string kernel, int64_t grid, int block, int smem_bytes, int ctas_per_sm,
                    double work_items, int sm_count) {
  KernelLaunch l;
  l.kernel = std::move(kernel);
  l.grid = grid;
  l.block = block;
  l.smem_bytes = smem_bytes;
  l.ctas_per_sm = ctas_per_sm;
  l.work_items = work_items;
  if (grid > 0 && sm_count > 0) {
    l.waves = work_items / (double(sm_count) * ctas_per_sm);
    l.full_waves = static_cast<int64_t>(std::floor(l.waves));
    l.last_wave_fill = l.waves - double(l.full_waves);
  }
  return l;
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// One CTA's work: its FLOPs (including padding) and the bytes it reads and writes.
struct Item {
  double flops, bytes;
};

// List scheduling: each item, in launch order, goes to the slot that frees first (what the
// hardware's block scheduler does when CTAs differ in length; an item's time taken as its
// FLOPs); returns slots x the busiest slot's FLOPs and bytes.
void schedule(const std::vector<Item>& items, int64_t slots, KernelLaunch& l) {
  if (items.empty() || slots < 1) return;
  struct Slot {
    double flops, bytes;
  };
  std::vector<Slot> s;
  auto later = [&](size_t a, size_t b) { return s[a].flops > s[b].flops; };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> free_first(later);
  for (const Item& it : items) {
    if (static_cast<int64_t>(s.size()) < slots) {
      s.push_back({it.flops, it.bytes});
      free_first.push(s.size() - 1);
      continue;
    }
    const size_t i = free_first.top();
    free_first.pop();
    s[i].flops += it.flops;
    s[i].bytes += it.bytes;
    free_first.push(i);
  }
  const Slot& busiest = *std::max_element(
      s.begin(), s.end(), [](const Slot& a, const Slot& b) { return a.flops < b.flops; });
  l.sched_flops = busiest.flops * double(slots);
  l.sched_bytes = busiest.bytes * double(slots);
}

LaunchPlan plan_decode(const std::string& format, const ShapeParams& shape, int sms,
                       const PlanOptions& options) {
  if (format != "bf16" && format != "fp8")
    throw std::invalid_argument("decode_attention: format must be bf16 or fp8, got '" + format +
                                "'");
  const DecodeAttentionShape s = parse_decode_attention(shape);
  const bool fp8 = format == "fp8";
  const int d = s.head_dim;
  const DecodeSplit split =
      decode_attention_split(s.batch, s.heads, s.kv_heads, d, fp8, s.kv_bound, sms,
                             options.decode_tensor_cores, 0, 0, options.rules.decode_split);
  const int gb = split.heads_per_cta, head_groups = s.heads / gb;
  // Splits that run, over the sequences, and those whose partials the combine merges (a
  // sequence of one split is written by its split CTA).
  int64_t split_rows = 0, merged_rows = 0, merged_seqs = 0;
  for (int64_t len : s.kv_lens) {
    const int64_t n = decode_seq_splits(static_cast<int>(len), split.min_chunk, split.max_splits);
    split_rows += n;
    merged_rows += n > 1 ? n : 0;
    merged_seqs += n > 1 ? 1 : 0;
  }
  const double kv_tokens = double(s.kv_tokens()), elem = fp8 ? 1.0 : 2.0;
  const double partial_bytes = double(merged_rows) * s.heads * (d + 1) * 4.0;

  LaunchPlan p;
  // The op's family name: "_mma" for E4M3 on tensor cores only (decode_attention.cu).
  p.variant = "sm90_" + format + (split.tensor_cores && fp8 ? "_mma" : "") + "_decode_attention";
  p.choices = {{"heads_per_cta", gb},
               {"chunk", split.chunk},
               {"split_kv", split.max_splits},
               {"tensor_cores", split.tensor_cores ? 1 : 0}};
  if (!split.tensor_cores && decode_split_slots_resident()) {  // listed only when not the default
    p.choices.emplace_back("split_slots_per_sm", decode_split_ctas_per_sm(d, fp8, gb));
    p.notes.push_back("split_slots_per_sm: the split count sized for the kernel's resident CTAs");
  }
  const std::string kv = fp8 ? "e4m3" : "bf16";
  std::string name;
  int smem = 0;
  const int form = decode_attention_form();
  int per_sm = decode_ctas_per_sm(split.tensor_cores, fp8, gb, form);
  if (split.tensor_cores) {
    name = "decode_attention_mma_kernel<" + kv + ", " + std::to_string(gb) + ">";
    smem = decode_mma_smem_bytes(fp8, form);  // the cp.async ring (the warps' merge reuses it)
  } else {
    name = "decode_attention_split_kernel<" + kv + ", " + std::to_string(d) + ", " +
           std::to_string(gb) + ">";
    const int groups = 4 * (32 / (d / 8));  // lane groups of 8 elements per token
    smem = groups * gb * (2 + d) * 4;
    per_sm = decode_split_ctas_per_sm(d, fp8, gb);
  }
  KernelLaunch split_launch =
      launch(name, int64_t(split.max_splits) * head_groups * s.batch, kDecodeThreads, smem, per_sm,
             double(split_rows) * head_groups, sms);
  split_launch.flops = 4.0 * kv_tokens * s.heads * d;
  std::vector<Item> items;  // launch order: split fastest, then head group, then sequence
  for (int64_t len : s.kv_lens) {
    const int64_t c = decode_seq_chunk(static_cast<int>(len), split.min_chunk, split.max_splits);
    for (int g = 0; g < head_groups; ++g)
      for (int64_t sp = 0; sp < ceil_div(len, c); ++sp) {
        const double tokens = double(std::min<int64_t>(c, len - sp * c));
        items.push_back({4.0 * tokens * gb * d, 2.0 * tokens * d * elem + gb * (d + 1) * 4.0});
      }
  }
  schedule(items, int64_t(sms) * per_sm, split_launch);
  const double out_bytes = double(s.heads) * d * 2.0;  // one sequence's output
  split_launch.bytes = 2.0 * kv_tokens * s.kv_heads * d * elem + double(s.batch) * out_bytes +
                       partial_bytes + double(s.batch - merged_seqs) * out_bytes;
  if (decode_fused_combine(split.tensor_cores, form)) {
    // The last split CTA of each merged row reads the row's partials and writes its output.
    split_launch.flops += 3.0 * double(merged_rows) * s.heads * d;
    split_launch.bytes += partial_bytes + double(merged_seqs) * out_bytes;
    p.launches.push_back(split_launch);
    return p;
  }
  p.launches.push_back(split_launch);
  const int64_t head_rows = int64_t(s.heads) * s.batch;
  const std::string combine_name =
      form & 64 ? "decode_attention_combine_at_once_kernel<" : "decode_attention_combine_kernel<";
  KernelLaunch combine =
      launch(combine_name + std::to_string(d) + ">", ceil_div(head_rows, kDecodeCombineRows),
             32 * kDecodeCombineRows, 0, kThreadsPerSm / (32 * kDecodeCombineRows),
             double(ceil_div(head_rows, kDecodeCombineRows)), sms);
  combine.flops = 3.0 * double(merged_rows) * s.heads * d;
  combine.bytes = partial_bytes + double(merged_seqs) * out_bytes;
  p.launches.push_back(combine);
  return p;
}

LaunchPlan plan_prefill(const std::string& format, const ShapeParams& shape, int sms,
                        const PlanOptions& options) {
  if (format != "bf16" && format != "fp8")
    throw std::invalid_argument("prefill_attention: format must be bf16 or fp8, got '" + format +
                                "'");
  const PrefillAttentionShape s = parse_prefill_attention(shape);
  const bool fp8 = format == "fp8";
  const int dqk = s.head_dim, dv = s.v_head_dim;
  const int variant = prefill_variant(fp8, dqk, dv, options.prefill_variant);
  const int rows = prefill_tile_rows(fp8, variant);
  const PrefillSchedule sched = prefill_schedule(s.q_lens, s.prefix_lens, rows);
  const int64_t tiles = static_cast<int64_t>(sched.tile_seq.size());
  const double elem = fp8 ? 1.0 : 2.0, tq = sched.cu_q.back(), tk = sched.cu_k.back();
  LaunchPlan p;
  p.variant = "sm90_" + format + prefill_variant_suffix(variant) + "_prefill_attention";
  p.choices = {{"variant", variant},
               {"wgmma", variant >= 0 ? 1 : 0},
               {"tile_rows", rows},
               {"q_tiles", tiles}};
  const std::string dims = std::to_string(dqk) + ", " + std::to_string(dv);
  KernelLaunch att;
  if (variant >= 0) {
    const int consumers = prefill_consumers(fp8, variant);
    if (fp8) {
      const int64_t kt = static_cast<int64_t>(sched.kt_seq.size());
      const int smem = 128 * (dv + 16);
      KernelLaunch tv = launch("transpose_v_kernel<" + std::to_string(dv) + ">", kt * s.kv_heads,
                               256, smem, fit_per_sm(256, smem), double(kt) * s.kv_heads, sms);
      tv.bytes = tk * s.kv_heads * dv + double(s.kv_heads) * dv * sched.cu_kt.back();
      p.launches.push_back(tv);
      p.choices.emplace_back("vt_tiles", kt);
    }
    att = launch("sm90_prefill_attention_kernel<" + std::string(fp8 ? "e4m3" : "bf16") + ", " +
                     dims + ", mode " + std::to_string(prefill_mode(variant)) + ", " +
                     std::to_string(consumers) + " consumers>",
                 int64_t(s.heads) * tiles, prefill_threads(fp8, variant),
                 prefill_wgmma_smem_bytes(fp8, dqk, dv, consumers), 1,
                 double(s.heads) * double(tiles), sms);
    p.choices.emplace_back("kv_stages", prefill_wgmma_stages(fp8, dqk, dv, consumers));
  } else {
    const int smem = prefill_mma_smem_bytes(fp8, dqk, dv);
    att =
        launch("prefill_attention_kernel<" + std::string(fp8 ? "e4m3" : "bf16") + ", " + dims + ">",
               tiles * s.heads, prefill_threads(fp8, variant), smem, fit_per_sm(128, smem),
               double(tiles) * s.heads, sms);
  }
  att.flops = 2.0 * double(sched.causal_pairs) * s.heads * (dqk + dv);
  // A CTA computes all its rows against every key tile up to the diagonal (masked ones too).
  const int key_tile = variant >= 0 ? 128 : 64;
  std::vector<Item> tiles_work;
  for (size_t i = 0; i < sched.tile_seq.size(); ++i) {
    const int32_t seq = sched.tile_seq[i];
    const int64_t k_len = s.prefix_lens[seq] + s.q_lens[seq];
    const int64_t q_rows = std::min<int64_t>(rows, s.q_lens[seq] - sched.tile_q0[i]);
    const int64_t kv_end = std::min<int64_t>(k_len, s.prefix_lens[seq] + sched.tile_q0[i] + rows);
    const double keys = double(ceil_div(kv_end, key_tile) * key_tile);
    tiles_work.push_back(
        {2.0 * rows * keys * (dqk + dv),
         (double(q_rows) * dqk + keys * (dqk + dv)) * elem + double(q_rows) * dv * 2.0});
  }
  std::vector<Item> items;
  if (variant >= 0) {  // grid (heads, tiles): the heads of a tile launch together
    for (const Item& t : tiles_work) items.insert(items.end(), s.heads, t);
  } else {  // grid (tiles, heads)
    for (int h = 0; h < s.heads; ++h)
      items.insert(items.end(), tiles_work.begin(), tiles_work.end());
  }
  schedule(items, int64_t(sms) * att.ctas_per_sm, att);
  att.bytes =
      tq * s.heads * dqk * elem + tk * s.kv_heads * (dqk + dv) * elem + tq * s.heads * dv * 2.0;
  att.item_keys = sched.tile_keys;
  p.launches.push_back(att);
  return p;
}

LaunchPlan plan_moe(const std::string& quadrant, const std::string& format,
                    const ShapeParams& shape, int sms, const PlanRules& rules) {
  if (format != "bf16" && format != "fp8" && format != "w4a8" && format != "bf16_cublaslt")
    throw std::invalid_argument(
        quadrant + ": format must be bf16, fp8, w4a8 or bf16_cublaslt, got '" + format + "'");
  const MoeFfnShape s = parse_moe_ffn(quadrant, shape);
  const bool lt = format == "bf16_cublaslt", bf16 = format == "bf16" || lt;
  const bool w4 = format == "w4a8", scaled = !bf16;
  const MoeGemmPath path = moe_gemm_path(s.tokens, s.top_k, s.experts, lt);
  // W4A8 on the mma.sync path: the decode GEMM's form (2, 3: activations as FP16 + a per-row
  // offset sum per 128 columns), the model's rule (PlanRules), not the environment's.
  if (rules.w4a8_decode_form < 1 || rules.w4a8_decode_form > kMoeW4Forms)
    throw std::invalid_argument(quadrant + ": the W4A8 decode form must be 1 .. " +
                                std::to_string(kMoeW4Forms) + ", got " +
                                std::to_string(rules.w4a8_decode_form));
  const int w4_form = w4 && path == MoeGemmPath::kMmaSync ? rules.w4a8_decode_form : 0;
  // mma.sync: 16- or 32-row tiles (moe_mma_block_m), the block_m choice.
  const int bm = moe_block_m(path, s.tokens, s.top_k, s.experts, bf16, w4_form);
  const int64_t rows = s.tokens * s.top_k, max_tiles = moe_max_tiles(rows, bm, s.experts);
  const ExpectedRouting er = expected_routing(s.tokens, s.top_k, s.experts, bm);
  const double a_elem = bf16 || moe_w4_fp16_activations(w4_form) ? 2.0 : 1.0, w_elem = bf16 ? 2.0
                                                                                       : w4 ? 0.5
                                                                                            : 1.0;
  const double a_meta =
      scaled ? (moe_w4_offset_form(w4_form) ? 8.0 : 4.0) / 128 : 0.0;  // scale (+ sum) per 128
  const double h = double(s.hidden), in = double(s.intermediate), r = double(rows);
  // Weight scales read with the active experts' weights (per 128x128 block, or per row and 128).
  const double w_scale_per_elem = w4 ? 4.0 / 128 : scaled ? 4.0 / (128 * 128) : 0.0;

  LaunchPlan p;
  p.variant = "sm90_" + format + "_" + quadrant;
  const int path_code = path == MoeGemmPath::kMmaSync ? 0 : path == MoeGemmPath::kWgmma ? 1 : 2;
  p.choices = {{"gemm_path", path_code},  // 0 mma.sync, 1 wgmma, 2 cuBLASLt per expert
               {"rows", rows},
               {"block_m", bm},
               {"max_m_tiles", max_tiles}};
  p.notes.push_back(
      "gemm_path 0: mma.sync 16- or 32-row tiles (block_m; 32: a CTA computes an expert's two "
      "16-row subtiles from one pass over its weights), 1: sm_90a wgmma grouped GEMM (48+ rows "
      "per expert), 2: cuBLASLt once per expert");
  p.notes.push_back(
      "m-tiles and active experts are expectations under uniform random top-k routing "
      "(expected = true)");

  auto add = [&](KernelLaunch l, double flops, double bytes, bool expected = false) {
    l.flops = flops;
    l.bytes = bytes;
    l.expected = expected;
    p.launches.push_back(std::move(l));
  };
  const int small = kThreadsPerSm / 256;
  if (moe_fused_route(s.tokens, s.top_k)) {
    // One CTA: top-k, counts, schedule and scatter.
    add(launch("moe_route_fused_kernel<float>", 1, kMoeFusedRouteThreads, 0, 1, 1, sms), 0.0,
        double(s.tokens) * s.experts * 4.0 + r * 28.0 + s.experts * 12.0 + er.m_tiles * 16.0, true);
  } else {
    // Chained (moe_pdl, mma.sync path): the memset first, so that the kernels form one chain.
    const bool memset_first = path == MoeGemmPath::kMmaSync && moe_pdl(w4);
    auto memset = [&] {
      add(launch("cudaMemsetAsync(counts)", 0, 0, 0, 1, 0, sms), 0.0, s.experts * 4.0);
    };
    if (memset_first) memset();
    add(launch("moe_topk_kernel<float>", ceil_div(s.tokens, 8), 256, 0, small,
               double(ceil_div(s.tokens, 8)), sms),
        0.0, double(s.tokens) * s.experts * 4.0 + r * 8.0);
    if (!memset_first) memset();
    add(launch("moe_count_kernel", ceil_div(rows, 256), 256, 0, small, double(ceil_div(rows, 256)),
               sms),
        0.0, r * 4.0);
    add(launch("moe_schedule_kernel", 1, kMoeScheduleThreads, 0, 1, 1, sms), 0.0,
        s.experts * 12.0 + er.m_tiles * 16.0, true);
    add(launch("moe_scatter_kernel", ceil_div(rows, 256), 256, 0, small,
               double(ceil_div(rows, 256)), sms),
        0.0, r * 12.0);
  }
  const int64_t gather = ceil_div(rows * s.hidden / 128, 8);
  add(launch(std::string("moe_gather_kernel<") + (bf16 ? "bf16" : "e4m3") + ">", gather, 256, 0,
             small, double(gather), sms),
      0.0, r * h * (2.0 + a_elem + a_meta));

  const std::string f = bf16 ? "bf16" : w4 ? "w4a8" : "fp8";
  struct Gemm {
    const char* what;
    double n, k;
  };
  const Gemm g1{"gate/up", 2 * in, h}, g2{"down", h, in};
  // Split-K of the mma.sync GEMMs (moe_split_k; 0 none): grid z, FP32 partials [rows][splits][n]
  // written by the GEMM and summed by the kernel after it (SiLU * up, the combine).
  auto splits = [&](const Gemm& g) {
    return path == MoeGemmPath::kMmaSync
               ? moe_split_k(rows, s.experts, int64_t(g.n), int64_t(g.k), bf16, w4_form, sms)
               : 0;
  };
  const int split1 = splits(g1), split2 = splits(g2);
  // FP8 on the wgmma decode GEMM (the plan rule): the mma.sync path's tiles and splits.
  const bool fp8_wgmma = path == MoeGemmPath::kMmaSync && format == "fp8" &&
                         rules.fp8_decode_gemm == Fp8DecodeGemm::kWgmma;
  if (fp8_wgmma) {
    p.choices.emplace_back("fp8_decode_wgmma", 1);
    p.notes.push_back(
        "fp8_decode_wgmma: the decode GEMMs on wgmma, the weight rows as M (TMA tiles of 128 x "
        "128), the tile's rows as N");
  }
  const int stages = moe_mma_stages(bf16);
  if (path == MoeGemmPath::kMmaSync && !w4 && stages != 3) {  // 3: the stages of every plan before
    p.choices.emplace_back("stages", stages);
    p.notes.push_back("stages: the BF16 / FP8 mma.sync GEMMs' shared-memory stages (k tiles)");
  }
  if (split1 || split2) {
    p.choices.emplace_back("split_k_gate_up", split1);
    p.choices.emplace_back("split_k_down", split2);
    p.notes.push_back(
        "split_k: the mma.sync GEMM's k cut in that many runs (grid z), FP32 partials summed by "
        "the next kernel (SiLU * up, the combine); 0: BF16 out");
  }
  // The bytes of a GEMM output (rows x n) as written by the GEMM and read by the next kernel.
  auto out_bytes = [&](double n, int split) { return split ? r * n * 4.0 * split : r * n * 2.0; };
  const bool int4_in_producer =
      path == MoeGemmPath::kWgmma && w4 &&
      moe_w4_int4_in_producer(rules.w4a8_prefill_dequant, double(rows), s.experts);
  if (int4_in_producer) {
    p.choices.emplace_back("w4a8_prefill_dequant_in_producer", 1);
    p.notes.push_back(
        "w4a8_prefill_dequant_in_producer: the wgmma GEMMs read the INT4 weights and dequantise "
        "them in shared memory (no E4M3 copy, three stages)");
  }
  if (path == MoeGemmPath::kWgmma && w4 && !int4_in_producer) {
    for (const Gemm& g : {g1, g2})
      add(launch(std::string("moe_dequant_int4_kernel (") + g.what + ")", int64_t(8) * sms, 256, 0,
                 small, 8.0 * sms, sms),
          0.0, s.experts * g.n * g.k * 1.5);
  }
  auto weights = [&](const Gemm& g) {
    return er.active_experts * g.n * g.k * (w_elem + w_scale_per_elem);
  };
  auto gemm = [&](const Gemm& g, bool first) {
    const double flops = 2.0 * r * g.n * g.k;
    // A in; out: BF16 h for SiLU on the mma paths, the fused E4M3/BF16 activation on wgmma.
    const int split = first ? split1 : split2;
    const double out =
        first && path == MoeGemmPath::kWgmma ? r * in * a_elem : out_bytes(g.n, split);
    const double bytes = weights(g) + r * g.k * a_elem + out;
    if (path == MoeGemmPath::kWgmma) {
      const double n_tiles = first ? g.n / 256 : std::ceil(g.n / kMoeWgmmaBlockN);
      KernelLaunch l =
          launch(std::string("sm90_grouped_gemm_kernel<") + (bf16 ? "bf16" : "e4m3") +
                     (first ? ", silu_mul" : "") + (w4 ? ", row scales" : "") +
                     (int4_in_producer ? ", int4" : "") + "> (" + g.what + ")",
                 sms, kMoeWgmmaThreads, moe_wgmma_smem_bytes(first, w4, int4_in_producer), 1,
                 er.m_tiles * n_tiles, sms);
      l.persistent = true;
      // Tiles dealt round robin (CTA b takes b, b + grid, ...): the busiest takes the ceiling.
      const double busiest = std::ceil(l.work_items / sms);
      l.sched_flops = double(sms) * busiest * 2.0 * kMoeWgmmaBlockM * kMoeWgmmaBlockN * g.k;
      // W from L2 as the GEMM reads it: INT4 when dequantised in the producer, else A's type.
      const double w_tile_elem = int4_in_producer ? 0.5 : a_elem;
      l.sched_bytes =
          double(sms) * busiest * (kMoeWgmmaBlockM * a_elem + kMoeWgmmaBlockN * w_tile_elem) * g.k;
      add(l, flops, bytes, true);
    } else if (path == MoeGemmPath::kMmaSync) {
      const double n_ctas = g.n / (w4 ? kMoeW4BlockN : kMoeMmaBlockN);
      const int smem = fp8_wgmma ? moe_fp8_wg_smem_bytes(bm)
                       : moe_w4_wg_form(w4_form)
                           ? moe_w4_wg_smem_bytes(bm, moe_w4_wg_stages(w4_form))
                       : w4_form >= 6 ? moe_w4_staged_smem_bytes()
                       : w4_form >= 4 ? moe_w4_ring_smem_bytes()
                       : w4_form >= 2 ? moe_w4_v2_smem_bytes()
                       : w4           ? moe_w4_smem_bytes()
                                      : moe_mma_smem_bytes(bm, stages);
      const std::string name =
          fp8_wgmma ? "moe_decode_gemm_wg_kernel<e4m3, " + std::to_string(bm) + " rows> ("
          : w4_form == kMoeW4WgForm       ? "moe_decode_gemm_wg_kernel<int4, 16 rows> ("
          : w4_form == kMoeW4WgOffsetForm ? "moe_decode_gemm_wg_kernel<int4 offset, 16 rows> ("
          : w4_form == kMoeW4WgKbMajorForm
              ? std::string("moe_decode_gemm_wg_kernel<int4 offset, 16 rows, k-major tiles> (")
          : w4_form == kMoeW4WgRotateForm
              ? std::string("moe_decode_gemm_wg_kernel<int4 offset, 16 rows, rotated k> (")
          : w4_form >= kMoeW4WgDeep6Form
              ? "moe_decode_gemm_wg_kernel<int4 offset, 16 rows, " +
                    std::to_string(moe_w4_wg_stages(w4_form)) + " stages> ("
          : w4_form >= kMoeW4WgHalvesForm
              ? "moe_decode_gemm_wg_kernel<int4 offset, " + std::to_string(bm) +
                    " rows, a warpgroup per half> ("
          : w4_form == 10 ? "moe_w4a8_decode_gemm_v2_kernel<offset, staged, 4 CTAs, n8 tiles> ("
          : w4_form == 9  ? "moe_w4a8_decode_gemm_v2_kernel<offset, staged, 4 CTAs, L2 ahead> ("
          : w4_form == 8  ? "moe_w4a8_decode_gemm_v2_kernel<offset, staged, 4 CTAs> ("
          : w4_form == 7  ? "moe_w4a8_decode_gemm_v2_kernel<offset, staged, 3 CTAs> ("
          : w4_form == 6  ? "moe_w4a8_decode_gemm_v2_kernel<offset, staged> ("
          : w4_form == 5  ? "moe_w4a8_decode_gemm_ring_kernel<offset> ("
          : w4_form == 4  ? "moe_w4a8_decode_gemm_ring_kernel<exact> ("
          : w4_form == 3  ? "moe_w4a8_decode_gemm_v2_kernel<offset> ("
          : w4_form == 2  ? "moe_w4a8_decode_gemm_v2_kernel<exact> ("
          : w4            ? "moe_w4a8_decode_gemm_kernel ("
                          : "moe_grouped_gemm_kernel<" + f + ", " + std::to_string(bm) + "> (";
      const int z = std::max(split, 1);
      // What the registers allow (16 rows: 75 / 122 per thread, BF16 / FP8; 32 rows and W4A8:
      // their __launch_bounds__, which the registers set), or fewer by shared memory: the
      // split-K rule's slots (moe_split_k). Under the legacy rule (PlanRules), 16-row and
      // W4A8 kernels by their shared memory alone.
      // The wgmma decode GEMMs (FP8, W4A8 forms 11-18): their launch bounds under either rule.
      const int by_registers =
          fp8_wgmma ? kMoeFp8WgCtasPerSm
          : rules.moe_mma_residency == MoeMmaResidency::kRegisters || moe_w4_wg_form(w4_form)
              ? moe_mma_ctas_per_sm(bf16, w4_form, stages)
          : bm == 32 ? moe_mma_ctas_per_sm(bf16, 0, stages)
                     : 32;
      const int threads = fp8_wgmma                 ? kMoeW4WgThreads
                          : moe_w4_wg_form(w4_form) ? moe_w4_wg_threads(w4_form)
                                                    : kMoeGemmThreads;
      const int ctas = std::min(by_registers, fit_per_sm(threads, smem));
      add(launch(name + g.what + ")", static_cast<int64_t>(n_ctas) * max_tiles * z, threads, smem,
                 ctas, n_ctas * er.m_tiles * z, sms),
          flops, bytes, true);
    } else {
      add(launch(std::string("cublasLtMatmul per active expert (") + g.what + ")", 0, 0, 0, 1,
                 er.active_experts, sms),
          flops, bytes, true);
    }
  };
  gemm(g1, true);
  if (path != MoeGemmPath::kWgmma) {
    const int64_t act = ceil_div(rows * s.intermediate / 128, 8);
    add(launch(std::string("moe_act_kernel<") + (bf16 ? "bf16" : "e4m3") + ">", act, 256, 0, small,
               double(act), sms),
        4.0 * r * in, out_bytes(2 * in, split1) + r * in * (a_elem + a_meta));
  }
  gemm(g2, false);
  const int64_t combine = s.tokens * moe_combine_ctas_per_token(s.hidden);
  add(launch("moe_combine_kernel", combine, kMoeCombineThreads, 0,
             kThreadsPerSm / kMoeCombineThreads, double(combine), sms),
      2.0 * r * h, out_bytes(h, split2) + double(s.tokens) * h * 2.0 + r * 8.0);
  if (lt) p.notes.push_back("cuBLASLt picks its kernels at run time: their grids are not planned");
  return p;
}

LaunchPlan plan_dense(const std::string& format, const ShapeParams& shape, int sms) {
  if (format != "bf16" && format != "fp8")
    throw std::invalid_argument("dense_gemm: format must be bf16 or fp8, got '" + format + "'");
  const DenseGemmShape s = parse_dense_gemm(shape);
  const double elem = format == "fp8" ? 1.0 : 2.0;
  LaunchPlan p;
  p.variant = "sm90_" + format + "_dense_gemm_cublaslt";
  KernelLaunch l = launch("cublasLtMatmul", 0, 0, 0, 1, 0, sms);
  l.flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
  l.bytes = (double(s.m) * double(s.k) + double(s.n) * double(s.k)) * elem +
            double(s.m) * double(s.n) * 2.0;
  p.launches.push_back(l);
  p.notes.push_back("cuBLASLt picks its kernel at run time (a heuristic): the grid is not planned");
  return p;
}

}  // namespace

double LaunchPlan::flops() const {
  double sum = 0;
  for (const KernelLaunch& l : launches) sum += l.flops;
  return sum;
}

double LaunchPlan::bytes() const {
  double sum = 0;
  for (const KernelLaunch& l : launches) sum += l.bytes;
  return sum;
}

int64_t LaunchPlan::choice(const std::string& name) const {
  for (const auto& [key, value] : choices)
    if (key == name) return value;
  throw std::out_of_range("launch plan of " + quadrant + ": no choice '" + name + "'");
}

ExpectedRouting expected_routing(int64_t tokens, int top_k, int experts, int block_m) {
  if (tokens < 1 || top_k < 1 || experts < top_k || block_m < 1)
    throw std::invalid_argument("expected_routing: need tokens >= 1, 1 <= top_k <= experts");
  ExpectedRouting e;
  const double p = double(top_k) / experts;
  if (top_k == experts) {
    e.active_experts = experts;
    e.m_tiles = double(experts) * double(ceil_div(tokens, block_m));
    return e;
  }
  e.active_experts = experts * (1.0 - std::pow(1.0 - p, double(tokens)));
  // E[ceil(c / block_m)] for c ~ Binomial(tokens, p), summed where the mass is.
  const double n = double(tokens), mean = n * p, sd = std::sqrt(n * p * (1 - p));
  const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(mean - 12 * sd - 1));
  const int64_t hi = std::min<int64_t>(tokens, static_cast<int64_t>(mean + 12 * sd + 2));
  const double log_n = std::lgamma(double(tokens) + 1), lp = std::log(p), lq = std::log1p(-p);
  double tiles = 0;
  for (int64_t c = lo; c <= hi; ++c) {
    const double log_pmf = log_n - std::lgamma(double(c) + 1) -
                           std::lgamma(double(tokens - c) + 1) + double(c) * lp +
                           double(tokens - c) * lq;
    tiles += std::exp(log_pmf) * double(ceil_div(c, block_m));
  }
  e.m_tiles = experts * tiles;
  return e;
}

const char* rule_name(MoeMmaResidency r) {
  return r == MoeMmaResidency::kRegisters ? "registers" : "shared_memory";
}

const char* rule_name(W4a8PrefillDequant d) {
  return d == W4a8PrefillDequant::kProducer ? "producer"
         : d == W4a8PrefillDequant::kByRows ? "by_rows"
                                            : "scratch";
}

const char* rule_name(Fp8DecodeGemm g) {
  return g == Fp8DecodeGemm::kWgmma ? "wgmma" : "mma";
}

const char* rule_name(MlaDecodeForm f) {
  return f == MlaDecodeForm::kWgmma ? "wgmma" : "mma";
}

const char* rule_name(DecodeSplitModel m) {
  return m == DecodeSplitModel::kFluid ? "fluid" : m == DecodeSplitModel::kBytes ? "bytes" : "";
}

namespace {
template <typename Rule, size_t N>
bool find_rule(const std::string& name, const std::array<Rule, N>& all, Rule& out) {
  for (Rule r : all)
    if (name == rule_name(r)) {
      out = r;
      return true;
    }
  return false;
}
}  // namespace

bool rule_from_name(const std::string& name, MoeMmaResidency& out) {
  return find_rule(name, kMoeMmaResidencyRules, out);
}

bool rule_from_name(const std::string& name, DecodeSplitModel& out) {
  return find_rule(name, kDecodeSplitRules, out);
}

bool rule_from_name(const std::string& name, W4a8PrefillDequant& out) {
  return find_rule(name, kW4a8PrefillDequantRules, out);
}

bool rule_from_name(const std::string& name, Fp8DecodeGemm& out) {
  return find_rule(name, kFp8DecodeGemmRules, out);
}

bool rule_from_name(const std::string& name, MlaDecodeForm& out) {
  return find_rule(name, kMlaDecodeFormRules, out);
}

namespace {
// Every rule with its name in the model files, in one list, so that a description and a
// difference cannot leave out a rule the other names.
std::array<std::pair<const char*, std::string>, 6> rule_fields(const PlanRules& r) {
  return {{{"moe_mma_residency", rule_name(r.moe_mma_residency)},
           {"decode_split", rule_name(r.decode_split)},
           {"w4a8_decode_form", std::to_string(r.w4a8_decode_form)},
           {"w4a8_prefill_dequant", rule_name(r.w4a8_prefill_dequant)},
           {"fp8_decode_gemm", rule_name(r.fp8_decode_gemm)},
           {"mla_decode_form", rule_name(r.mla_decode_form)}}};
}
}  // namespace

std::string rules_description(const PlanRules& r) {
  std::string out;
  for (const auto& [name, value] : rule_fields(r))
    out += (out.empty() ? "" : ", ") + std::string(name) + " " + value;
  return out;
}

std::string rules_difference(const PlanRules& fitted, const PlanRules& kernels) {
  const auto a = rule_fields(fitted), b = rule_fields(kernels);
  std::string out;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].second != b[i].second)
      out += (out.empty() ? "" : ", ") + std::string(a[i].first) + " " + a[i].second +
             " (kernels: " + b[i].second + ")";
  return out;
}

int decode_split_ctas_per_sm(int head_dim, bool fp8, int heads_per_cta) {
  const int bound = heads_per_cta >= 8 ? 2 : 3;
  if (head_dim != 256 || heads_per_cta > 2) return bound;
  const int registers = fp8 ? (heads_per_cta == 1 ? 95 : 116) : (heads_per_cta == 1 ? 77 : 111);
  const int groups = 4 * (32 / (head_dim / 8));  // the merge's shared memory, as plan_decode
  const int smem = groups * heads_per_cta * (2 + head_dim) * 4;
  const int by_registers = kRegistersPerSm / (kDecodeThreads * ((registers + 7) / 8 * 8));
  return std::max(bound, std::min(by_registers, fit_per_sm(kDecodeThreads, smem)));
}

LaunchPlan plan_launches(const std::string& quadrant, const std::string& format,
                         const ShapeParams& shape, int sm_count, const PlanOptions& options) {
  if (sm_count < 1) throw std::invalid_argument("plan_launches: sm_count must be >= 1");
  LaunchPlan p;
  if (quadrant == "decode_attention")
    p = plan_decode(format, shape, sm_count, options);
  else if (quadrant == "prefill_attention")
    p = plan_prefill(format, shape, sm_count, options);
  else if (quadrant == "prefill_ffn" || quadrant == "decode_ffn")
    p = plan_moe(quadrant, format, shape, sm_count, options.rules);
  else if (quadrant == "dense_gemm")
    p = plan_dense(format, shape, sm_count);
  else if (quadrant == "mla_decode")
    p = plan_mla_decode(format, shape, sm_count, 0, options.rules.mla_decode_form);
  else
    throw std::invalid_argument("unknown quadrant '" + quadrant +
                                "' (expected prefill_attention, decode_attention, prefill_ffn, "
                                "decode_ffn, dense_gemm, mla_decode)");
  p.quadrant = quadrant;
  p.format = format;
  p.sm_count = sm_count;
  return p;
}

}  // namespace quadrant::kernels::plan
