// Launch plans without a GPU: geometry, waves, bytes and FLOPs worked out by hand, and the
// expected-routing closed forms.
#include "kernels/plan/launch_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/plan/dispatch.h"

namespace quadrant::kernels::plan {
namespace {

// A plan rule's names as model files spell them: each reads back as its value and is the name
// rule_name gives it; `unknown` is refused.
template <typename Rule>
void expect_rule_names(std::initializer_list<std::pair<const char*, Rule>> names,
                       const char* unknown) {
  for (const auto& [name, value] : names) {
    Rule read{};
    EXPECT_TRUE(rule_from_name(name, read)) << name;
    EXPECT_EQ(read, value) << name;
    EXPECT_EQ(std::string(rule_name(value)), name);
  }
  Rule read{};
  EXPECT_FALSE(rule_from_name(unknown, read)) << unknown;
}

TEST(LaunchPlan, DecodeAttentionSplitGridWavesAndBytes) {
  const ShapeParams shape = {
      {"batch", 64}, {"kv_len", 2048}, {"heads", 32}, {"kv_heads", 8}, {"head_dim", 128}};
  const LaunchPlan p = plan_launches("decode_attention", "bf16", shape, 132);
  EXPECT_EQ(p.variant, "sm90_bf16_decode_attention");
  EXPECT_EQ(p.choice("split_kv"), 1);  // one 2048-token split
  EXPECT_EQ(p.choice("tensor_cores"), 1);
  ASSERT_EQ(p.launches.size(), 2u);
  const KernelLaunch& s = p.launches[0];
  EXPECT_EQ(s.kernel, "decode_attention_mma_kernel<bf16, 4>");
  EXPECT_EQ(s.grid, 1 * 8 * 64);
  EXPECT_EQ(s.block, 128);
  EXPECT_EQ(s.smem_bytes, 3 * 4 * 16 * 32 * 16);  // three stages of 4 warps' 8 KB
  EXPECT_EQ(s.ctas_per_sm, 2);
  EXPECT_DOUBLE_EQ(s.work_items, 8 * 64);
  EXPECT_DOUBLE_EQ(s.waves, 512.0 / (132 * 2));
  EXPECT_EQ(s.full_waves, 1);
  EXPECT_NEAR(s.last_wave_fill, 512.0 / 264 - 1, 1e-12);
  const double kv = 64.0 * 2048;
  EXPECT_DOUBLE_EQ(s.flops, 4 * kv * 32 * 128);
  // KV read, Q read, the output written by the split CTAs themselves (one split: no partials).
  EXPECT_DOUBLE_EQ(s.bytes, 2 * kv * 8 * 128 * 2 + 2 * 64.0 * 32 * 128 * 2);
  EXPECT_EQ(p.launches[1].grid, 32 * 64 / 4);  // a warp per (sequence, head)
  EXPECT_DOUBLE_EQ(p.launches[1].bytes, 0);    // nothing to merge
  // 512 equal CTAs over 264 slots: the busiest slot takes 2.
  EXPECT_DOUBLE_EQ(s.sched_flops, 264 * 2 * 4.0 * 2048 * 4 * 128);
  // The CUDA-core kernel (benchmark comparison): 3 CTAs per SM, the split count to match.
  PlanOptions cuda_cores;
  cuda_cores.decode_tensor_cores = false;
  const LaunchPlan c = plan_launches("decode_attention", "bf16", shape, 132, cuda_cores);
  EXPECT_EQ(c.launches[0].kernel, "decode_attention_split_kernel<bf16, 128, 4>");
  EXPECT_EQ(c.launches[0].ctas_per_sm, 3);
  const DecodeSplit cs = decode_attention_split(64, 32, 8, 128, false, 2048, 132, false);
  EXPECT_EQ(c.launches[0].grid, int64_t(cs.max_splits) * 8 * 64);
  const double merged = cs.max_splits > 1 ? 64.0 * cs.max_splits * 32 * 129 * 4 : 0;
  EXPECT_DOUBLE_EQ(c.launches[1].bytes, merged + (cs.max_splits > 1 ? 64.0 * 32 * 128 * 2 : 0));
  // Uneven lengths: splits that start past a sequence's end exit; work counts only the rest.
  const LaunchPlan u = plan_launches("decode_attention", "fp8",
                                     {{"batch", 2},
                                      {"kv_len", 4096},
                                      {"kv_len_min", 256},
                                      {"heads", 32},
                                      {"kv_heads", 8},
                                      {"head_dim", 128}},
                                     132);
  EXPECT_EQ(u.variant, "sm90_fp8_mma_decode_attention");
  const int64_t chunk = u.choice("chunk");
  EXPECT_DOUBLE_EQ(u.launches[0].work_items,
                   8.0 * (std::ceil(256.0 / chunk) + std::ceil(4096.0 / chunk)));
  EXPECT_LT(u.launches[0].work_items, double(u.launches[0].grid));
}

TEST(LaunchPlan, PrefillAttentionTilesAndVariants) {
  const ShapeParams shape = {
      {"batch", 2}, {"seq_len", 300}, {"heads", 8}, {"kv_heads", 2}, {"head_dim", 128}};
  const LaunchPlan b = plan_launches("prefill_attention", "bf16", shape, 132);
  EXPECT_EQ(b.variant, "sm90_bf16_wgmma_prefill_attention");
  ASSERT_EQ(b.launches.size(), 1u);
  const KernelLaunch& a = b.launches[0];
  EXPECT_EQ(a.grid, 8 * 6);  // ceil(300 / 128) = 3 tiles per sequence, 8 heads
  EXPECT_EQ(a.block, 384);
  EXPECT_EQ(a.smem_bytes, prefill_wgmma_smem_bytes(false, 128, 128, 2));
  EXPECT_DOUBLE_EQ(a.waves, 48.0 / 132);
  EXPECT_EQ(a.item_keys, (std::vector<int64_t>{300, 300, 256, 256, 128, 128}));
  // 48 CTAs on 132 slots: each its own slot; the busiest computes 128 rows x 384 keys.
  EXPECT_DOUBLE_EQ(a.sched_flops, 132 * 2.0 * 128 * 384 * 256);
  EXPECT_GE(a.sched_flops, a.flops);
  // Its bytes: 128 query rows and 384 keys of K and V (BF16), 128 output rows.
  EXPECT_DOUBLE_EQ(a.sched_bytes, 132 * ((44.0 * 128 + 384.0 * 256) * 2 + 44.0 * 128 * 2));
  EXPECT_DOUBLE_EQ(a.flops, 2.0 * (2 * 300 * 301 / 2) * 8 * 256);
  // Q, K, V read once, O written: 600 tokens, 8 query heads, 2 KV heads, BF16.
  EXPECT_DOUBLE_EQ(a.bytes, 600.0 * 8 * 128 * 2 + 600.0 * 2 * 256 * 2 + 600.0 * 8 * 128 * 2);
  // FP8: the V transpose first, 192-row tiles (three consumer warpgroups).
  const LaunchPlan f = plan_launches("prefill_attention", "fp8", shape, 132);
  ASSERT_EQ(f.launches.size(), 2u);
  EXPECT_EQ(f.launches[0].grid, 2 * 3 * 2);  // ceil(300 / 128) V^T tiles per sequence, 2 KV heads
  EXPECT_EQ(f.launches[1].grid, 8 * 4);      // ceil(300 / 192) = 2 tiles per sequence
  EXPECT_EQ(f.launches[1].block, 512);
  // FP8 MLA runs the mma.sync kernel.
  const LaunchPlan m = plan_launches("prefill_attention", "fp8",
                                     {{"batch", 1},
                                      {"seq_len", 64},
                                      {"heads", 16},
                                      {"kv_heads", 16},
                                      {"head_dim", 192},
                                      {"v_head_dim", 128}},
                                     132);
  EXPECT_EQ(m.choice("wgmma"), 0);
  EXPECT_EQ(m.launches[0].smem_bytes, prefill_mma_smem_bytes(true, 192, 128));
  PlanOptions o;
  o.prefill_variant = -1;
  EXPECT_EQ(plan_launches("prefill_attention", "bf16", shape, 132, o).variant,
            "sm90_bf16_mma_prefill_attention");
}

TEST(ExpectedRouting, ClosedForms) {
  // One token, 2 of 8 experts: each expert takes it with probability 1/4.
  ExpectedRouting e = expected_routing(1, 2, 8, 16);
  EXPECT_NEAR(e.active_experts, 2.0, 1e-12);
  EXPECT_NEAR(e.m_tiles, 2.0, 1e-12);
  // Two tokens, 1 of 2 experts, 1-row tiles: E[tiles] = E[rows] = 1 per expert.
  e = expected_routing(2, 1, 2, 1);
  EXPECT_NEAR(e.active_experts, 1.5, 1e-12);
  EXPECT_NEAR(e.m_tiles, 2.0, 1e-9);
  // Every expert takes every token.
  e = expected_routing(100, 8, 8, 16);
  EXPECT_DOUBLE_EQ(e.m_tiles, 8.0 * 7);
}

// The plan rules (PlanRules) a cost model was fitted under: the 16-row mma.sync GEMMs' CTAs
// per SM by shared memory alone (legacy: 4) or by registers too (moe_mma_ctas_per_sm: BF16 3,
// FP8 2; W4A8 form 8 4 either way), and the named decode split chooser over the environment.
TEST(LaunchPlan, PlanRulesSetTheMoeResidencyAndTheDecodeSplit) {
  const ShapeParams shape = {
      {"tokens", 32}, {"experts", 128}, {"top_k", 8}, {"hidden", 2048}, {"intermediate", 768}};
  PlanOptions legacy, registers;
  legacy.rules = PlanRules::legacy();
  registers.rules.moe_mma_residency = MoeMmaResidency::kRegisters;
  for (const auto& [format, by_registers] : {std::pair{"bf16", 3}, std::pair{"fp8", 2}}) {
    const LaunchPlan a = plan_launches("decode_ffn", format, shape, 132, legacy);
    const LaunchPlan b = plan_launches("decode_ffn", format, shape, 132, registers);
    ASSERT_EQ(a.launches.size(), b.launches.size());
    int gemms = 0;
    for (size_t i = 0; i < a.launches.size(); ++i) {
      if (a.launches[i].kernel.find("moe_grouped_gemm_kernel") == std::string::npos) {
        EXPECT_EQ(a.launches[i].ctas_per_sm, b.launches[i].ctas_per_sm);
        continue;
      }
      ++gemms;
      EXPECT_EQ(a.launches[i].ctas_per_sm, 4) << format;
      EXPECT_EQ(b.launches[i].ctas_per_sm, by_registers) << format;
      EXPECT_NEAR(b.launches[i].waves * by_registers, a.launches[i].waves * 4, 1e-9);
    }
    EXPECT_EQ(gemms, 2) << format;
  }
  // Decode attention at a row where the two choosers differ (dispatch_test: 64 x 8192 BF16,
  // bytes 2 splits, fluid 5), the environment saying the other.
  const ShapeParams attn = {
      {"batch", 64}, {"kv_len", 8192}, {"heads", 32}, {"kv_heads", 8}, {"head_dim", 128}};
  PlanOptions fluid;
  fluid.rules.decode_split = DecodeSplitModel::kFluid;
  setenv("QUADRANT_DECODE_ATTN_SPLIT_MODEL", "fluid", 1);
  EXPECT_EQ(plan_launches("decode_attention", "bf16", attn, 132, legacy).choice("split_kv"), 2);
  setenv("QUADRANT_DECODE_ATTN_SPLIT_MODEL", "bytes", 1);
  EXPECT_EQ(plan_launches("decode_attention", "bf16", attn, 132, fluid).choice("split_kv"), 5);
  unsetenv("QUADRANT_DECODE_ATTN_SPLIT_MODEL");
  expect_rule_names<MoeMmaResidency>({{"registers", MoeMmaResidency::kRegisters}}, "regs");
  expect_rule_names<DecodeSplitModel>(
      {{"fluid", DecodeSplitModel::kFluid}, {"bytes", DecodeSplitModel::kBytes}}, "fluids");
}

TEST(LaunchPlan, MoeFfnPathsAndLaunches) {
  // Qwen3-30B-A3B, one GPU: 128 experts, top 8, hidden 2048, intermediate 768.
  ShapeParams shape = {
      {"tokens", 64}, {"experts", 128}, {"top_k", 8}, {"hidden", 2048}, {"intermediate", 768}};
  const LaunchPlan d = plan_launches("decode_ffn", "fp8", shape, 132);
  EXPECT_EQ(d.choice("gemm_path"), 0);
  EXPECT_EQ(d.choice("block_m"), 16);
  // routing (4 + memset, or one CTA up to kMoeFusedRouteMaxSlots), gather, gate/up, act,
  // down, combine
  const int routing = moe_fused_route(64, 8) ? 1 : 5;
  ASSERT_EQ(d.launches.size(), 5u + routing);
  const ExpectedRouting er = expected_routing(64, 8, 128, 16);
  const KernelLaunch& g1 = d.launches[routing + 1];
  EXPECT_TRUE(g1.expected);
  EXPECT_EQ(g1.grid, (2 * 768 / 128) * (512 / 16 + 128));
  EXPECT_NEAR(g1.work_items, 12 * er.m_tiles, 1e-9);
  EXPECT_NEAR(g1.flops, 2.0 * 512 * 1536 * 2048, 1);
  EXPECT_GT(g1.bytes, er.active_experts * 1536 * 2048);  // the active experts' E4M3 weights
  const KernelLaunch& combine = d.launches.back();
  EXPECT_EQ(combine.kernel, "moe_combine_kernel");
  EXPECT_EQ(combine.grid, 64 * 2);  // 2048 columns: 2 CTAs of 128 threads x 8 columns per token
  EXPECT_EQ(combine.block, 128);
  if (routing == 5) {
    EXPECT_EQ(d.launches[3].kernel, "moe_schedule_kernel");
    EXPECT_EQ(d.launches[3].block, 32);  // one warp
  }
  // 8 tokens (64 slots): top-k, counts, schedule and scatter in one CTA where it is on.
  shape["tokens"] = 8;
  const LaunchPlan f = plan_launches("decode_ffn", "fp8", shape, 132);
  if (moe_fused_route(8, 8)) {
    ASSERT_EQ(f.launches.size(), 6u);
    EXPECT_EQ(f.launches[0].kernel, "moe_route_fused_kernel<float>");
    EXPECT_EQ(f.launches[0].grid, 1);
    EXPECT_EQ(f.launches[0].block, 1024);
  } else {
    ASSERT_EQ(f.launches.size(), 10u);
    // Chained (moe_pdl): the counts' memset heads the chain.
    EXPECT_EQ(f.launches[moe_pdl(false) ? 1 : 0].kernel, "moe_topk_kernel<float>");
  }
  shape["tokens"] = 8192;
  const LaunchPlan w = plan_launches("prefill_ffn", "w4a8", shape, 132);
  EXPECT_EQ(w.choice("gemm_path"), 1);
  ASSERT_EQ(w.launches.size(), 11u);  // + two INT4 -> E4M3 dequants, no separate act
  const KernelLaunch& wg = w.launches[8];
  EXPECT_TRUE(wg.persistent);
  EXPECT_EQ(wg.grid, 132);
  EXPECT_EQ(wg.block, 384);
  EXPECT_NEAR(wg.work_items, expected_routing(8192, 8, 128, 128).m_tiles * 768 / 128, 1e-6);
  EXPECT_EQ(plan_launches("prefill_ffn", "bf16_cublaslt", shape, 132).choice("gemm_path"), 2);
}

// The W4A8 decode GEMM's forms (QUADRANT_W4A8_DECODE_FORM, benchmarks only): each names its
// kernel and shared memory; the offset forms (3, 5-10) move 4 more bytes per row and 128
// columns (the offset sum beside the scale); a form out of range is an error.
TEST(LaunchPlan, W4a8DecodeFormsNameTheirKernels) {
  const ShapeParams shape = {
      {"tokens", 8}, {"experts", 32}, {"top_k", 8}, {"hidden", 1024}, {"intermediate", 512}};
  struct Form {
    const char* form;
    const char* kernel;
    int smem;
  };
  const Form forms[] = {
      {"1", "moe_w4a8_decode_gemm_kernel (", moe_w4_smem_bytes()},
      {"2", "moe_w4a8_decode_gemm_v2_kernel<exact> (", moe_w4_v2_smem_bytes()},
      {"3", "moe_w4a8_decode_gemm_v2_kernel<offset> (", moe_w4_v2_smem_bytes()},
      {"4", "moe_w4a8_decode_gemm_ring_kernel<exact> (", moe_w4_ring_smem_bytes()},
      {"5", "moe_w4a8_decode_gemm_ring_kernel<offset> (", moe_w4_ring_smem_bytes()},
      {"6", "moe_w4a8_decode_gemm_v2_kernel<offset, staged> (", moe_w4_staged_smem_bytes()},
      {"7", "moe_w4a8_decode_gemm_v2_kernel<offset, staged, 3 CTAs> (", moe_w4_staged_smem_bytes()},
      {"8", "moe_w4a8_decode_gemm_v2_kernel<offset, staged, 4 CTAs> (", moe_w4_staged_smem_bytes()},
      {"9", "moe_w4a8_decode_gemm_v2_kernel<offset, staged, 4 CTAs, L2 ahead> (",
       moe_w4_staged_smem_bytes()},
      {"10", "moe_w4a8_decode_gemm_v2_kernel<offset, staged, 4 CTAs, n8 tiles> (",
       moe_w4_staged_smem_bytes()},
      {"11", "moe_decode_gemm_wg_kernel<int4, 16 rows> (", moe_w4_wg_smem_bytes()},
      {"12", "moe_decode_gemm_wg_kernel<int4 offset, 16 rows> (", moe_w4_wg_smem_bytes()},
      {"13", "moe_decode_gemm_wg_kernel<int4 offset, 16 rows, a warpgroup per half> (",
       moe_w4_wg_smem_bytes()},
      // 64 rows over 32 experts: below form 14's 12 rows per expert, 16-row tiles.
      {"14", "moe_decode_gemm_wg_kernel<int4 offset, 16 rows, a warpgroup per half> (",
       moe_w4_wg_smem_bytes()},
      // Form 12 with a deeper ring: 6 and 8 stages of 11 KB.
      {"15", "moe_decode_gemm_wg_kernel<int4 offset, 16 rows, 6 stages> (",
       moe_w4_wg_smem_bytes() + 2 * (11 * 1024 + 16)},
      {"16", "moe_decode_gemm_wg_kernel<int4 offset, 16 rows, 8 stages> (",
       moe_w4_wg_smem_bytes() + 4 * (11 * 1024 + 16)},
      {"17", "moe_decode_gemm_wg_kernel<int4 offset, 16 rows, rotated k> (",
       moe_w4_wg_smem_bytes()},
      {"18", "moe_decode_gemm_wg_kernel<int4 offset, 16 rows, k-major tiles> (",
       moe_w4_wg_smem_bytes()}};
  double bytes[19] = {};
  for (const Form& f : forms) {
    PlanOptions o;
    o.rules.w4a8_decode_form = std::atoi(f.form);
    const LaunchPlan p = plan_launches("decode_ffn", "w4a8", shape, 132, o);
    int gemms = 0;
    for (const KernelLaunch& l : p.launches)
      if (l.kernel.rfind("moe_w4a8_decode_gemm", 0) == 0 ||
          l.kernel.rfind("moe_decode_gemm_wg", 0) == 0) {
        EXPECT_EQ(l.kernel.rfind(f.kernel, 0), 0u) << f.form << ": " << l.kernel;
        EXPECT_EQ(l.smem_bytes, f.smem) << f.form;
        // Forms 11-18: a consumer warpgroup (13, 14: one per m64 half) and a producer warp, two
        // CTAs an SM by registers (and, 16's eight stages, still by shared memory).
        const int form = std::atoi(f.form);
        EXPECT_EQ(l.block, form == 13 || form == 14 ? 288 : form >= 11 ? 160 : 256) << f.form;
        const bool wg = form >= 11;
        if (wg) {
          EXPECT_EQ(l.ctas_per_sm, 2) << f.form;
        }
        ++gemms;
      }
    EXPECT_EQ(gemms, 2) << f.form;  // gate/up and down
    bytes[std::atoi(f.form)] = p.bytes();
  }
  EXPECT_DOUBLE_EQ(bytes[2], bytes[4]);
  EXPECT_DOUBLE_EQ(bytes[3], bytes[5]);
  EXPECT_DOUBLE_EQ(bytes[3], bytes[6]);
  EXPECT_DOUBLE_EQ(bytes[3], bytes[7]);
  EXPECT_DOUBLE_EQ(bytes[3], bytes[8]);
  EXPECT_DOUBLE_EQ(bytes[3], bytes[9]);
  EXPECT_DOUBLE_EQ(bytes[3], bytes[10]);
  EXPECT_GT(bytes[3], bytes[2]);           // the offset sums
  EXPECT_GT(bytes[2], bytes[1]);           // FP16 activations instead of E4M3
  EXPECT_DOUBLE_EQ(bytes[11], bytes[1]);   // E4M3 activations and INT4 weights, as form 1
  EXPECT_GT(bytes[12], bytes[11]);         // and the offset sums
  EXPECT_LT(bytes[12], bytes[3]);          // beside E4M3, not FP16, activations
  EXPECT_DOUBLE_EQ(bytes[13], bytes[12]);  // the same bytes, more warps
  EXPECT_DOUBLE_EQ(bytes[14], bytes[13]);
  EXPECT_DOUBLE_EQ(bytes[15], bytes[12]);  // the same bytes, more of them in flight
  EXPECT_DOUBLE_EQ(bytes[16], bytes[12]);
  EXPECT_DOUBLE_EQ(bytes[17], bytes[12]);  // the same bytes in another order
  EXPECT_DOUBLE_EQ(bytes[18], bytes[12]);  // or in other places
  for (const int bad : {0, 19, -1}) {
    PlanOptions o;
    o.rules.w4a8_decode_form = bad;
    EXPECT_THROW(plan_launches("decode_ffn", "w4a8", shape, 132, o), std::invalid_argument) << bad;
  }
  // The kernels' switch is checked where they read it.
  for (const char* bad : {"0", "19", "x"}) {
    setenv("QUADRANT_W4A8_DECODE_FORM", bad, 1);
    EXPECT_THROW(moe_w4_decode_form(), std::invalid_argument) << bad;
  }
  unsetenv("QUADRANT_W4A8_DECODE_FORM");
  EXPECT_EQ(moe_w4_decode_form(), kMoeW4DecodeForm);
}

// W4A8 form 14 takes 32-row tiles from 12 rows per expert on average (48 tokens top-8 over 32
// experts), whatever QUADRANT_MOE_BLOCK_M says, and 16-row ones below: the kernel, its shared
// memory and half the m-tiles' CTAs where every expert's rows fit one 32-row tile.
TEST(LaunchPlan, W4a8FormFourteenTakes32RowTilesFromTwelveRowsPerExpert) {
  setenv("QUADRANT_MOE_BLOCK_M", "16", 1);
  for (const int tokens : {47, 48}) {
    const ShapeParams shape = {
        {"tokens", tokens}, {"experts", 32}, {"top_k", 8}, {"hidden", 1024}, {"intermediate", 512}};
    PlanOptions o;
    o.rules.w4a8_decode_form = kMoeW4WgTilesForm;
    const LaunchPlan p = plan_launches("decode_ffn", "w4a8", shape, 132, o);
    const int bm = tokens == 48 ? 32 : 16;
    EXPECT_EQ(p.choice("block_m"), bm) << tokens;
    int gemms = 0;
    for (const KernelLaunch& l : p.launches)
      if (l.kernel.rfind("moe_decode_gemm_wg", 0) == 0) {
        EXPECT_EQ(l.kernel.rfind("moe_decode_gemm_wg_kernel<int4 offset, " + std::to_string(bm) +
                                     " rows, a warpgroup per half> (",
                                 0),
                  0u)
            << l.kernel;
        EXPECT_EQ(l.smem_bytes, moe_w4_wg_smem_bytes(bm));
        EXPECT_EQ(l.block, 288);
        ++gemms;
      }
    EXPECT_EQ(gemms, 2) << tokens;
  }
  unsetenv("QUADRANT_MOE_BLOCK_M");
  EXPECT_EQ(moe_w4_wg_smem_bytes(32) - moe_w4_wg_smem_bytes(16), 4 * 2048);  // 2 KB a stage more
}

// FP8 on the wgmma decode GEMM: the plan follows the model's rule (PlanRules::fp8_decode_gemm),
// not the benchmark switch (QUADRANT_FP8_DECODE_GEMM, whose values, wgmma2's two warpgroups
// included, and error are checked here).
// Under the rule the two GEMMs name the wgmma kernel, 160 threads, two CTAs an SM and its stages'
// shared memory (16- and 32-row tiles), with the same FLOPs, bytes and CTAs as the mma.sync plan.
TEST(LaunchPlan, Fp8DecodeGemmIsThePlanRuleNotTheEnvironment) {
  const ShapeParams shape = {
      {"tokens", 8}, {"experts", 32}, {"top_k", 8}, {"hidden", 1024}, {"intermediate", 512}};
  EXPECT_EQ(PlanRules().fp8_decode_gemm,
            kMoeFp8DecodeWgmma ? Fp8DecodeGemm::kWgmma : Fp8DecodeGemm::kMma);
  EXPECT_EQ(PlanRules::legacy().fp8_decode_gemm, Fp8DecodeGemm::kMma);
  PlanOptions mma, wg;
  mma.rules.fp8_decode_gemm = Fp8DecodeGemm::kMma;
  wg.rules.fp8_decode_gemm = Fp8DecodeGemm::kWgmma;
  const LaunchPlan before = plan_launches("decode_ffn", "fp8", shape, 132, mma);
  setenv("QUADRANT_FP8_DECODE_GEMM", "mma", 1);
  EXPECT_FALSE(moe_fp8_decode_wgmma());
  EXPECT_EQ(moe_fp8_decode_warpgroups(), 1);
  setenv("QUADRANT_FP8_DECODE_GEMM", "wgmma2", 1);  // a consumer warpgroup per half
  EXPECT_TRUE(moe_fp8_decode_wgmma());
  EXPECT_EQ(moe_fp8_decode_warpgroups(), 2);
  setenv("QUADRANT_FP8_DECODE_GEMM", "wgmma", 1);
  EXPECT_TRUE(moe_fp8_decode_wgmma());
  EXPECT_EQ(moe_fp8_decode_warpgroups(), 1);
  const LaunchPlan during = plan_launches("decode_ffn", "fp8", shape, 132, mma);
  for (const char* bad : {"on", "wgmma3"}) {
    setenv("QUADRANT_FP8_DECODE_GEMM", bad, 1);
    EXPECT_THROW(moe_fp8_decode_wgmma(), std::invalid_argument) << bad;
    EXPECT_THROW(moe_fp8_decode_warpgroups(), std::invalid_argument) << bad;
  }
  unsetenv("QUADRANT_FP8_DECODE_GEMM");
  EXPECT_EQ(moe_fp8_decode_wgmma(), kMoeFp8DecodeWgmma);
  EXPECT_EQ(moe_fp8_decode_warpgroups(), 1);
  ASSERT_EQ(during.launches.size(), before.launches.size());
  for (size_t i = 0; i < before.launches.size(); ++i)
    EXPECT_EQ(during.launches[i].kernel, before.launches[i].kernel);
  EXPECT_THROW(before.choice("fp8_decode_wgmma"), std::out_of_range);
  const LaunchPlan after = plan_launches("decode_ffn", "fp8", shape, 132, wg);
  EXPECT_EQ(after.choice("fp8_decode_wgmma"), 1);
  ASSERT_EQ(after.launches.size(), before.launches.size());
  int gemms = 0;
  for (size_t i = 0; i < after.launches.size(); ++i) {
    const KernelLaunch &m = before.launches[i], &w = after.launches[i];
    EXPECT_DOUBLE_EQ(w.flops, m.flops);
    EXPECT_DOUBLE_EQ(w.bytes, m.bytes);
    EXPECT_EQ(w.grid, m.grid);
    if (w.kernel.rfind("moe_decode_gemm_wg_kernel<e4m3, 16 rows> (", 0) == 0) {
      EXPECT_EQ(w.block, 160);
      EXPECT_EQ(w.ctas_per_sm, 2);
      EXPECT_EQ(w.smem_bytes, 4 * (16 * 128 + 128 * 128 + 1024) + 4 * 16 + 1024);
      ++gemms;
    } else {
      EXPECT_EQ(w.kernel, m.kernel);
    }
  }
  EXPECT_EQ(gemms, 2);  // gate/up and down
  EXPECT_EQ(moe_fp8_wg_smem_bytes(32), 4 * (32 * 128 + 128 * 128 + 1024) + 4 * 16 + 1024);
  expect_rule_names<Fp8DecodeGemm>({{"wgmma", Fp8DecodeGemm::kWgmma}, {"mma", Fp8DecodeGemm::kMma}},
                                   "mma.sync");
}

// The W4A8 decode form is the model's rule (PlanRules::w4a8_decode_form), not the benchmark
// switch: with QUADRANT_W4A8_DECODE_FORM=10 set, a plan under the legacy rules (and under
// today's, the kernels' default) still names the default form's kernel, and a plan told form
// 10 names form 10's. Today's default is the kernels' run-time default; the legacy one is 8.
TEST(LaunchPlan, W4a8DecodeFormIsThePlanRuleNotTheEnvironment) {
  const ShapeParams shape = {
      {"tokens", 8}, {"experts", 32}, {"top_k", 8}, {"hidden", 1024}, {"intermediate", 512}};
  EXPECT_EQ(PlanRules().w4a8_decode_form, kMoeW4DecodeForm);
  EXPECT_EQ(PlanRules::legacy().w4a8_decode_form, 8);
  auto gemm_kernel = [&](const PlanOptions& o) {
    for (const KernelLaunch& l : plan_launches("decode_ffn", "w4a8", shape, 132, o).launches)
      if (l.kernel.rfind("moe_w4a8_decode_gemm", 0) == 0) return l.kernel;
    return std::string();
  };
  PlanOptions legacy, ten;
  legacy.rules = PlanRules::legacy();
  ten.rules.w4a8_decode_form = 10;
  setenv("QUADRANT_W4A8_DECODE_FORM", "10", 1);
  const std::string under_legacy = gemm_kernel(legacy);
  unsetenv("QUADRANT_W4A8_DECODE_FORM");
  EXPECT_EQ(under_legacy.rfind("moe_w4a8_decode_gemm_v2_kernel<offset, staged, 4 CTAs> (", 0), 0u)
      << under_legacy;
  setenv("QUADRANT_W4A8_DECODE_FORM", "8", 1);
  const std::string under_ten = gemm_kernel(ten);
  unsetenv("QUADRANT_W4A8_DECODE_FORM");
  EXPECT_NE(under_ten.find("n8 tiles> ("), std::string::npos) << under_ten;
  EXPECT_EQ(rules_description(legacy.rules),
            "moe_mma_residency shared_memory, decode_split bytes, w4a8_decode_form 8, "
            "w4a8_prefill_dequant scratch, fp8_decode_gemm mma, mla_decode_form mma");
  EXPECT_FALSE(legacy.rules == ten.rules);
  EXPECT_EQ(rules_difference(ten.rules, ten.rules), "");
  PlanRules eight = ten.rules;
  eight.w4a8_decode_form = 8;
  EXPECT_EQ(rules_difference(eight, ten.rules), "w4a8_decode_form 8 (kernels: 10)");
  EXPECT_EQ(rules_difference(legacy.rules, PlanRules{})
                .rfind("moe_mma_residency shared_memory "
                       "(kernels: registers), ",
                       0),
            0u);
}

// W4A8 prefill dequantised in the wgmma GEMM's producer (PlanRules::w4a8_prefill_dequant):
// no INT4 -> E4M3 launches, the GEMMs with three stages that also hold the INT4 rows, the W
// tiles' bytes from L2 at half a byte a weight; the same FLOPs and HBM bytes. The kernels'
// switch (QUADRANT_W4A8_PREFILL_DEQUANT) does not change a plan: the rule does.
TEST(LaunchPlan, W4a8PrefillDequantInTheProducerDropsTheDequantLaunches) {
  const ShapeParams shape = {
      {"tokens", 8192}, {"experts", 128}, {"top_k", 8}, {"hidden", 2048}, {"intermediate", 768}};
  setenv("QUADRANT_W4A8_PREFILL_DEQUANT", "producer", 1);
  PlanOptions copy;
  copy.rules.w4a8_prefill_dequant = W4a8PrefillDequant::kScratch;
  const LaunchPlan scratch = plan_launches("prefill_ffn", "w4a8", shape, 132, copy);
  unsetenv("QUADRANT_W4A8_PREFILL_DEQUANT");
  EXPECT_EQ(PlanRules().w4a8_prefill_dequant, kMoeW4PrefillDequant);
  EXPECT_EQ(PlanRules::legacy().w4a8_prefill_dequant, W4a8PrefillDequant::kScratch);
  PlanOptions o;
  o.rules.w4a8_prefill_dequant = W4a8PrefillDequant::kProducer;
  const LaunchPlan producer = plan_launches("prefill_ffn", "w4a8", shape, 132, o);
  ASSERT_EQ(scratch.launches.size(), 11u);
  ASSERT_EQ(producer.launches.size(), 9u);
  EXPECT_THROW(scratch.choice("w4a8_prefill_dequant_in_producer"), std::out_of_range);
  EXPECT_EQ(producer.choice("w4a8_prefill_dequant_in_producer"), 1);
  for (const KernelLaunch& l : producer.launches)
    EXPECT_EQ(l.kernel.find("dequant"), std::string::npos) << l.kernel;
  const KernelLaunch &s1 = scratch.launches[8], &p1 = producer.launches[6];
  const KernelLaunch &s2 = scratch.launches[9], &p2 = producer.launches[7];
  EXPECT_EQ(p1.kernel, "sm90_grouped_gemm_kernel<e4m3, silu_mul, row scales, int4> (gate/up)");
  EXPECT_EQ(p2.kernel, "sm90_grouped_gemm_kernel<e4m3, row scales, int4> (down)");
  // Three stages of 16 + 32 KB (A, W as E4M3) + 1 KB of row scales + 16 KB of INT4.
  EXPECT_EQ(p1.smem_bytes, 3 * (16384 + 32768 + 1024 + 16384) + 1024 + 256);
  EXPECT_EQ(p2.smem_bytes, p1.smem_bytes);
  EXPECT_EQ(s1.smem_bytes, 4 * (16384 + 32768 + 1024) + 1024 + 256);
  for (const auto& [s, p] : {std::pair{&s1, &p1}, std::pair{&s2, &p2}}) {
    EXPECT_DOUBLE_EQ(p->flops, s->flops);
    EXPECT_DOUBLE_EQ(p->bytes, s->bytes);
    EXPECT_DOUBLE_EQ(p->work_items, s->work_items);
    // Per tile and k: 128 A rows at 1 byte either way, 256 W rows at 1 byte -> 0.5.
    EXPECT_DOUBLE_EQ(p->sched_bytes / s->sched_bytes, (128 + 256 * 0.5) / (128 + 256.0));
  }
  // By rows: the producer up to kMoeW4ProducerRowsPerExpert rows per expert on average, the copy
  // above (8192 x 8 / 128 = 512 rows an expert: the copy; 4096 tokens, 256: the producer).
  PlanOptions by_rows;
  by_rows.rules.w4a8_prefill_dequant = W4a8PrefillDequant::kByRows;
  EXPECT_THROW(plan_launches("prefill_ffn", "w4a8", shape, 132, by_rows)
                   .choice("w4a8_prefill_dequant_in_producer"),
               std::out_of_range);
  ShapeParams at_256 = shape;
  at_256["tokens"] = 4096;
  EXPECT_EQ(plan_launches("prefill_ffn", "w4a8", at_256, 132, by_rows)
                .choice("w4a8_prefill_dequant_in_producer"),
            1);
  at_256["tokens"] = 4097;
  EXPECT_THROW(plan_launches("prefill_ffn", "w4a8", at_256, 132, by_rows)
                   .choice("w4a8_prefill_dequant_in_producer"),
               std::out_of_range);
  EXPECT_TRUE(moe_w4_int4_in_producer(W4a8PrefillDequant::kByRows, 256.0 * 16, 16));
  EXPECT_FALSE(moe_w4_int4_in_producer(W4a8PrefillDequant::kByRows, 256.0 * 16 + 1, 16));
  // Fewer than kMoeW4ProducerMinExperts experts keep the copy at any rows; the producer switch
  // does not.
  EXPECT_TRUE(moe_w4_int4_in_producer(W4a8PrefillDequant::kByRows, 64.0 * 4, 4));
  EXPECT_FALSE(moe_w4_int4_in_producer(W4a8PrefillDequant::kByRows, 64.0 * 3, 3));
  EXPECT_FALSE(moe_w4_int4_in_producer(W4a8PrefillDequant::kByRows, 1, 1));
  EXPECT_TRUE(moe_w4_int4_in_producer(W4a8PrefillDequant::kProducer, 1, 1));
  EXPECT_TRUE(moe_w4_int4_in_producer(W4a8PrefillDequant::kProducer, 1e9, 16));
  EXPECT_FALSE(moe_w4_int4_in_producer(W4a8PrefillDequant::kScratch, 1, 16));
  // The switch's values.
  setenv("QUADRANT_W4A8_PREFILL_DEQUANT", "scratch", 1);
  EXPECT_EQ(moe_w4_prefill_dequant(), W4a8PrefillDequant::kScratch);
  setenv("QUADRANT_W4A8_PREFILL_DEQUANT", "producer", 1);
  EXPECT_EQ(moe_w4_prefill_dequant(), W4a8PrefillDequant::kProducer);
  setenv("QUADRANT_W4A8_PREFILL_DEQUANT", "by_rows", 1);
  EXPECT_EQ(moe_w4_prefill_dequant(), W4a8PrefillDequant::kByRows);
  setenv("QUADRANT_W4A8_PREFILL_DEQUANT", "on", 1);
  EXPECT_THROW(moe_w4_prefill_dequant(), std::invalid_argument);
  unsetenv("QUADRANT_W4A8_PREFILL_DEQUANT");
  EXPECT_EQ(moe_w4_prefill_dequant(), kMoeW4PrefillDequant);
  expect_rule_names<W4a8PrefillDequant>({{"producer", W4a8PrefillDequant::kProducer},
                                         {"scratch", W4a8PrefillDequant::kScratch},
                                         {"by_rows", W4a8PrefillDequant::kByRows}},
                                        "copy");
}

// Split-K (QUADRANT_MOE_SPLIT_K): the GEMM's grid and work items times the splits, its output
// and the next kernel's input FP32 partials (4 x splits bytes per element instead of 2), the
// splits among the choices; the weights' bytes and the FLOPs unchanged.
TEST(LaunchPlan, MoeSplitKMultipliesTheGemmGridAndThePartialBytes) {
  const ShapeParams shape = {
      {"tokens", 1}, {"experts", 32}, {"top_k", 8}, {"hidden", 7168}, {"intermediate", 2048}};
  PlanOptions ten;  // form 10's four CTAs an SM (forms 11-18 have two: no split here)
  ten.rules.w4a8_decode_form = 10;
  setenv("QUADRANT_MOE_SPLIT_K", "0", 1);
  const LaunchPlan off = plan_launches("decode_ffn", "w4a8", shape, 132, ten);
  EXPECT_THROW(off.choice("split_k_gate_up"), std::out_of_range);
  setenv("QUADRANT_MOE_SPLIT_K", "auto", 1);
  const LaunchPlan on = plan_launches("decode_ffn", "w4a8", shape, 132, ten);
  unsetenv("QUADRANT_MOE_SPLIT_K");
  EXPECT_EQ(on.choice("split_k_gate_up"), 2);
  EXPECT_EQ(on.choice("split_k_down"), 0);
  ASSERT_EQ(on.launches.size(), off.launches.size());
  const double r = 8;
  for (size_t i = 0; i < on.launches.size(); ++i) {
    const KernelLaunch &a = off.launches[i], &b = on.launches[i];
    EXPECT_EQ(a.kernel, b.kernel);
    EXPECT_DOUBLE_EQ(a.flops, b.flops) << a.kernel;
    if (a.kernel.find("(gate/up)") != std::string::npos) {
      EXPECT_EQ(b.grid, 2 * a.grid);
      EXPECT_DOUBLE_EQ(b.work_items, 2 * a.work_items);
      EXPECT_DOUBLE_EQ(b.bytes - a.bytes, r * 4096 * (4.0 * 2 - 2.0));
    } else if (a.kernel.rfind("moe_act_kernel", 0) == 0) {
      EXPECT_DOUBLE_EQ(b.bytes - a.bytes, r * 4096 * (4.0 * 2 - 2.0));
    } else {
      EXPECT_EQ(b.grid, a.grid) << a.kernel;
      EXPECT_DOUBLE_EQ(b.bytes, a.bytes) << a.kernel;
    }
  }
}

// 32-row tiles (QUADRANT_MOE_BLOCK_M=32) at 64 tokens, 32 experts top-8, BF16 / FP8: the
// block_m choice, the GEMMs' kernels named by their rows, their grids over the 32-row
// schedule's m-tiles (512 / 32 + 32 = 48 instead of 512 / 16 + 32 = 64), their shared memory and
// CTAs per SM; the GEMMs' bytes and every FLOP unchanged. W4A8's form 10 keeps 16-row tiles; more
// stages (QUADRANT_MOE_STAGES) are a choice and more shared memory.
TEST(LaunchPlan, MoeBlockMThirtyTwoHalvesTheTilesNotTheBytes) {
  const ShapeParams shape = {
      {"tokens", 64}, {"experts", 32}, {"top_k", 8}, {"hidden", 7168}, {"intermediate", 2048}};
  PlanOptions mma;  // the mma.sync GEMMs (FP8's default decode GEMM is the wgmma one)
  mma.rules.fp8_decode_gemm = Fp8DecodeGemm::kMma;
  for (const char* f : {"fp8", "bf16"}) {
    SCOPED_TRACE(f);
    setenv("QUADRANT_MOE_BLOCK_M", "16", 1);
    const LaunchPlan a = plan_launches("decode_ffn", f, shape, 132, mma);
    setenv("QUADRANT_MOE_BLOCK_M", "32", 1);
    const LaunchPlan b = plan_launches("decode_ffn", f, shape, 132, mma);
    unsetenv("QUADRANT_MOE_BLOCK_M");
    EXPECT_EQ(a.choice("block_m"), 16);
    EXPECT_EQ(b.choice("block_m"), 32);
    EXPECT_EQ(a.choice("max_m_tiles"), 64);
    EXPECT_EQ(b.choice("max_m_tiles"), 48);
    ASSERT_EQ(a.launches.size(), b.launches.size());
    int gemms = 0;
    for (size_t i = 0; i < a.launches.size(); ++i) {
      const KernelLaunch &x = a.launches[i], &y = b.launches[i];
      EXPECT_DOUBLE_EQ(x.flops, y.flops) << x.kernel;
      if (x.kernel.find("gemm") == std::string::npos) {
        EXPECT_EQ(x.kernel, y.kernel);  // the schedule's bytes follow the m-tiles
        continue;
      }
      ++gemms;
      EXPECT_DOUBLE_EQ(x.bytes, y.bytes) << x.kernel;
      EXPECT_NE(y.kernel.find(", 32>"), std::string::npos) << y.kernel;
      EXPECT_EQ(y.grid * 64, x.grid * 48) << y.kernel;
      EXPECT_GT(y.smem_bytes, x.smem_bytes) << y.kernel;
      // Launch bounds: BF16 3, FP8 2 (3 stages of 20 KB allow both).
      EXPECT_EQ(y.ctas_per_sm, std::string(f) == "bf16" ? 3 : 2) << y.kernel;
    }
    EXPECT_EQ(gemms, 2);
  }
  setenv("QUADRANT_MOE_BLOCK_M", "32", 1);
  setenv("QUADRANT_MOE_STAGES", "5", 1);
  PlanOptions ten;  // W4A8's mma.sync form (form 14 takes 32-row tiles by its own rule)
  ten.rules.w4a8_decode_form = 10;
  const LaunchPlan w4 = plan_launches("decode_ffn", "w4a8", shape, 132, ten);
  const LaunchPlan fp8 = plan_launches("decode_ffn", "fp8", shape, 132, mma);
  const LaunchPlan bf16 = plan_launches("decode_ffn", "bf16", shape, 132);
  unsetenv("QUADRANT_MOE_BLOCK_M");
  unsetenv("QUADRANT_MOE_STAGES");
  for (const KernelLaunch& l : bf16.launches) {  // 5 stages of 20 KB: 2 CTAs by shared memory
    if (l.kernel.find("gemm") != std::string::npos) {
      EXPECT_EQ(l.ctas_per_sm, 2) << l.kernel;
    }
  }
  EXPECT_EQ(w4.choice("block_m"), 16);
  EXPECT_THROW(w4.choice("stages"), std::out_of_range);
  EXPECT_EQ(fp8.choice("stages"), 5);
  for (const KernelLaunch& l : fp8.launches) {
    if (l.kernel.find("gemm") != std::string::npos) {
      EXPECT_EQ(l.smem_bytes, 5 * (32 * 128 + 128 * 128)) << l.kernel;
    }
  }
}

// Decode attention's forms (QUADRANT_DECODE_ATTN_FORM, benchmarks only): 0..15 change the
// kernel's insides, not its launches; 16 (E4M3 only, with 14) takes 3 stages of 16 KB and 4
// CTAs per SM, so the split count follows the 528 slots; BF16 ignores it; 256 (with 14: the
// copy paths chosen once per CTA) keeps the launches and lets 16 come with 128, and so do 1024,
// 2048 and 4096 (7631: 3535 + the accumulators as permuted chunks), 8192 (15823: the prologue's
// loads with the length's) and 16384 (24015, 32207: one output factor per head); a form out of
// range, 8 without 4, 16 without 14, 256 without 14, 128 with 16 but not 256, 4096 without
// 2048, 8192 without 1024 (11727) or 4096 (14799) or 16384 without 2048 (16384, 17871) is an
// error.
TEST(LaunchPlan, DecodeAttentionFormsKeepTheLaunchesExceptE4m3Occupancy) {
  const ShapeParams shape = {
      {"batch", 16}, {"kv_len", 4096}, {"heads", 32}, {"kv_heads", 4}, {"head_dim", 128}};
  unsetenv("QUADRANT_DECODE_ATTN_FORM");
  const LaunchPlan bf16 = plan_launches("decode_attention", "bf16", shape, 132);
  const LaunchPlan e4m3 = plan_launches("decode_attention", "fp8", shape, 132);
  EXPECT_EQ(e4m3.launches[0].ctas_per_sm, 3);
  // 64 (the combine's loads at once) and 128 (the lazy rescale) keep every launch, the combine's
  // included.
  for (const char* form :
       {"1",   "2",   "4",    "6",    "7",    "12",   "14",    "15",    "30",
        "31",  "64",  "79",   "142",  "143",  "207",  "270",   "463",   "479",
        "975", "991", "1487", "2511", "3535", "7631", "15823", "24015", "32207"}) {
    setenv("QUADRANT_DECODE_ATTN_FORM", form, 1);
    const LaunchPlan b = plan_launches("decode_attention", "bf16", shape, 132);
    const LaunchPlan e = plan_launches("decode_attention", "fp8", shape, 132);
    EXPECT_EQ(b.launches.size(), bf16.launches.size()) << form;
    EXPECT_EQ(e.launches.size(), e4m3.launches.size()) << form;
    // A form bit that changes a format's occupancy (BF16 512: 2 stages of 32 KB, 3 CTAs per SM;
    // E4M3 16: 3 stages of 4 KB a warp, 4 CTAs per SM) moves its split count with the slots;
    // otherwise the format keeps the default's launch.
    auto occupancy = [&](const LaunchPlan& p, const LaunchPlan& base, bool fp8, int bit,
                         int ctas_per_sm, int64_t smem, int base_ctas_per_sm) {
      const KernelLaunch& l = p.launches[0];
      if (std::atoi(form) & bit) {
        EXPECT_EQ(l.ctas_per_sm, ctas_per_sm) << form;
        EXPECT_EQ(l.smem_bytes, smem) << form;
        const DecodeSplit s = decode_attention_split(16, 32, 4, 128, fp8, 4096, 132);
        EXPECT_EQ(l.grid, int64_t(s.max_splits) * 4 * 16) << form;
        EXPECT_DOUBLE_EQ(l.waves, double(l.grid) / (132 * ctas_per_sm)) << form;
      } else {
        EXPECT_EQ(l.grid, base.launches[0].grid) << form;
        EXPECT_EQ(l.smem_bytes, base.launches[0].smem_bytes) << form;
        EXPECT_EQ(l.ctas_per_sm, base_ctas_per_sm) << form;
      }
    };
    occupancy(b, bf16, false, 512, 3, 2 * 4 * 16 * 32 * 16, 2);
    occupancy(e, e4m3, true, 16, 4, 3 * 4 * 8 * 32 * 16, 3);
  }
  // 32 (with 14): the split CTAs merge; the same split launch, no combine launch.
  for (const char* form : {"46", "47", "62", "63"}) {
    setenv("QUADRANT_DECODE_ATTN_FORM", form, 1);
    const LaunchPlan b = plan_launches("decode_attention", "bf16", shape, 132);
    const LaunchPlan e = plan_launches("decode_attention", "fp8", shape, 132);
    ASSERT_EQ(b.launches.size(), 1u) << form;
    ASSERT_EQ(e.launches.size(), 1u) << form;
    EXPECT_EQ(b.launches[0].grid, bf16.launches[0].grid) << form;
    EXPECT_DOUBLE_EQ(b.bytes(), bf16.bytes()) << form;  // the combine's bytes, moved
    EXPECT_EQ(e.launches[0].ctas_per_sm, std::atoi(form) & 16 ? 4 : 3) << form;
  }
  for (const char* bad :
       {"8",    "9",    "16",   "17",  "18",  "32",  "34",    "38",    "96",    "111",   "128",
        "140",  "158",  "174",  "256", "257", "262", "400",   "431",   "512",   "527",   "1024",
        "4096", "5583", "8192", "-1",  "3x",  "",    "11727", "14799", "16384", "17871", "32768"}) {
    setenv("QUADRANT_DECODE_ATTN_FORM", bad, 1);
    if (*bad == 0) {
      EXPECT_EQ(decode_attention_form(), kDecodeAttnForm);  // empty: the default
      continue;
    }
    EXPECT_THROW(plan_launches("decode_attention", "fp8", shape, 132), std::invalid_argument)
        << bad;
  }
  unsetenv("QUADRANT_DECODE_ATTN_FORM");
  EXPECT_EQ(decode_attention_form(), kDecodeAttnForm);
}

TEST(LaunchPlan, DenseGemmIsCublasLt) {
  const LaunchPlan p = plan_launches("dense_gemm", "fp8", {{"m", 64}, {"n", 256}, {"k", 512}}, 132);
  ASSERT_EQ(p.launches.size(), 1u);
  EXPECT_EQ(p.launches[0].grid, 0);
  EXPECT_DOUBLE_EQ(p.flops(), 2.0 * 64 * 256 * 512);
  EXPECT_DOUBLE_EQ(p.bytes(), (64.0 * 512 + 256.0 * 512) + 64.0 * 256 * 2);
  EXPECT_FALSE(p.notes.empty());
}

TEST(LaunchPlan, RejectsWhatMakeOpRejects) {
  EXPECT_THROW(plan_launches("nonsense", "bf16", {}, 132), std::invalid_argument);
  EXPECT_THROW(plan_launches("decode_ffn", "int3", {}, 132), std::invalid_argument);
  EXPECT_THROW(plan_launches("dense_gemm", "bf16", {{"m", 1}}, 132), std::invalid_argument);
  EXPECT_THROW(plan_launches("dense_gemm", "bf16", {{"m", 1}, {"n", 16}, {"k", 16}}, 0),
               std::invalid_argument);
  EXPECT_THROW(
      plan_launches("dense_gemm", "bf16", {{"m", 1}, {"n", 16}, {"k", 16}}, 132).choice("split_kv"),
      std::out_of_range);
}

}  // namespace
}  // namespace quadrant::kernels::plan
