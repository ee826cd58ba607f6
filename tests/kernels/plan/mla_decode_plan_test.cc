// MLA decode's path choices and launch plan (no GPU): head groups, stages within the shared
// memory, split counts against their definition, grid, bytes and FLOPs worked out by hand.
#include "kernels/plan/mla_decode_plan.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>

namespace quadrant::kernels::plan {
namespace {

ShapeParams mla(int64_t batch, int64_t kv, int64_t kv_min, int64_t heads) {
  return {{"batch", batch}, {"kv_len", kv}, {"kv_len_min", kv_min}, {"heads", heads}};
}

TEST(MlaDecodePlan, HeadsPerCtaAndStagesFitTheSharedMemory) {
  EXPECT_EQ(mla_heads_per_cta(16), 16);
  EXPECT_EQ(mla_heads_per_cta(32), 32);
  EXPECT_EQ(mla_heads_per_cta(48), 16);
  EXPECT_EQ(mla_heads_per_cta(64), 64);
  EXPECT_EQ(mla_heads_per_cta(128), 64);
  EXPECT_EQ(mla_stages(64), 4);  // 72 KB of queries leave four 36 KB stages
  EXPECT_EQ(mla_stages(32), 5);
  EXPECT_EQ(mla_stages(16), 5);
  for (int h : {16, 32, 64}) {
    EXPECT_LE(mla_smem_bytes(h), 227 * 1024) << h;
    EXPECT_EQ(mla_smem_bytes(h), h * 1152 + mla_stages(h) * 32 * 1152 + h * 80 + 1792) << h;
  }
}

// The mma.sync form's chunks (32-token tiles); the wgmma form's:
// WgmmaFormTakesHeadTilesOf16Or32And64TokenChunks.
TEST(MlaDecodePlan, SplitChunksCoverTheLongestSequence) {
  const auto mma = MlaDecodeForm::kMma;
  for (int64_t batch : {1, 7, 64, 512})
    for (int heads : {16, 32, 64, 128})
      for (int64_t len : {1, 31, 33, 1000, 4096, 8191}) {
        const MlaDecodeSplit s = mla_decode_split(batch, heads, len, 132, 0, mma);
        EXPECT_EQ(s.chunk % kMlaTileTokens, 0);
        EXPECT_GE(int64_t(s.chunk) * s.max_splits, len);
        EXPECT_LT(int64_t(s.chunk) * (s.max_splits - 1), len);  // no empty split
        EXPECT_LE(s.max_splits, kMlaMaxSplits);
      }
  // Forced: 4 splits of 4096 tokens are 1024 each; 3 of 1000 are 334 rounded up to 352.
  EXPECT_EQ(mla_decode_split(16, 16, 4096, 132, 4, mma).chunk, 1024);
  EXPECT_EQ(mla_decode_split(16, 16, 1000, 132, 3, mma).chunk, 352);
  EXPECT_EQ(mla_decode_split(16, 16, 1000, 132, 3, mma).max_splits, 3);
}

TEST(MlaDecodePlan, SplitCountFillsTheSmsWhenRowsAreFew) {
  // One sequence, one head group: the CTAs of one wave are the splits (chunk >= 32 tokens).
  const MlaDecodeSplit one = mla_decode_split(1, 16, 8192, 132);
  EXPECT_GE(one.max_splits, 32);
  EXPECT_LE(one.max_splits, 132);
  // 1024 sequences x 2 head groups fill 15 waves without splitting.
  EXPECT_EQ(mla_decode_split(1024, 128, 4096, 132).max_splits, 1);
}

// The mma.sync form's plan (a model's "mla_decode_form": "mma"), the wgmma form's in
// WgmmaFormTakesHeadTilesOf16Or32And64TokenChunks.
TEST(MlaDecodePlan, GridBytesAndFlops) {
  PlanOptions under_mma;
  under_mma.rules.mla_decode_form = MlaDecodeForm::kMma;
  const LaunchPlan p =
      plan_launches("mla_decode", "bf16", mla(64, 4096, 4096, 128), 132, under_mma);
  EXPECT_EQ(p.variant, "sm90_bf16_mma_mla_decode");
  const MlaDecodeSplit s = mla_decode_split(64, 128, 4096, 132, 0, MlaDecodeForm::kMma);
  EXPECT_EQ(p.choice("heads_per_cta"), 64);
  EXPECT_EQ(p.choice("split_kv"), s.max_splits);
  EXPECT_EQ(p.choice("chunk"), s.chunk);
  ASSERT_EQ(p.launches.size(), 2u);
  const KernelLaunch& k = p.launches[0];
  EXPECT_EQ(k.kernel, "mla_decode_split_kernel<4>");
  EXPECT_EQ(k.grid, 2 * s.max_splits * 64);
  EXPECT_EQ(k.block, 256);
  EXPECT_EQ(k.ctas_per_sm, 1);
  EXPECT_EQ(k.smem_bytes, mla_smem_bytes(64));
  const double tokens = 64.0 * 4096;
  EXPECT_DOUBLE_EQ(k.flops, 2 * tokens * 128 * (576 + 512));
  const double merged = s.max_splits > 1 ? 64.0 * s.max_splits * 128 * 513 * 4 : 0;
  const double direct = s.max_splits > 1 ? 0 : 64.0 * 128 * 512 * 2;
  EXPECT_DOUBLE_EQ(k.bytes, tokens * 1152 + 64.0 * 128 * 576 * 2 + merged + direct);
  EXPECT_GE(k.sched_flops, k.flops);
  EXPECT_EQ(p.launches[1].grid, 64 * 128 / 4);
  EXPECT_DOUBLE_EQ(p.launches[1].bytes, merged + (s.max_splits > 1 ? 64.0 * 128 * 512 * 2 : 0));
  // Mixed lengths: shorter sequences run fewer splits.
  const LaunchPlan v = plan_launches("mla_decode", "bf16", mla(8, 8192, 0, 16), 132, under_mma);
  EXPECT_LT(v.launches[0].work_items, double(v.launches[0].grid));
}

// QUADRANT_MLA_SPLIT_MODEL (sweeps only) replaces the split model's constants: the old ones
// (64 KB per CTA, 32 KB per combine, tail 0.5) split 64 sequences of 512 tokens at 64 heads in
// two, those of branch mla (192 KB, 128 KB, 1.5) keep them whole; a malformed value is an error.
TEST(MlaDecodePlan, SplitModelFromTheEnvironment) {
  setenv("QUADRANT_MLA_SPLIT_MODEL", "64,32,0.5", 1);
  EXPECT_DOUBLE_EQ(mla_split_model(MlaDecodeForm::kMma).cta_overhead_bytes, 64 * 1024);
  EXPECT_DOUBLE_EQ(mla_split_model(MlaDecodeForm::kWgmma).cta_overhead_bytes, 64 * 1024);
  EXPECT_EQ(mla_decode_split(64, 64, 512, 132).max_splits, 2);
  setenv("QUADRANT_MLA_SPLIT_MODEL", "192,128,1.5", 1);
  EXPECT_EQ(mla_decode_split(64, 64, 512, 132).max_splits, 1);
  for (const char* bad : {"64,32", "64,32,0.5,1", "a,b,c", "-1,32,0.5"}) {
    setenv("QUADRANT_MLA_SPLIT_MODEL", bad, 1);
    EXPECT_THROW(mla_decode_split(64, 64, 512, 132), std::invalid_argument) << bad;
  }
  unsetenv("QUADRANT_MLA_SPLIT_MODEL");
  EXPECT_DOUBLE_EQ(mla_split_model(MlaDecodeForm::kMma).tail_fraction, kMlaTailFraction);
}

// The wgmma form: 16 or 32 heads a CTA (the N of its tiles), chunks of whole 64-token tiles,
// two 72 KB stages, one warpgroup; the plan names its kernel and variant. The default rule takes
// it; a model's mma rule keeps the mma.sync form whatever the environment says.
TEST(MlaDecodePlan, WgmmaFormTakesHeadTilesOf16Or32And64TokenChunks) {
  const auto wg = MlaDecodeForm::kWgmma;
  EXPECT_EQ(mla_wg_heads_per_cta(16), 16);
  EXPECT_EQ(mla_wg_heads_per_cta(48), 16);
  EXPECT_EQ(mla_wg_heads_per_cta(32), 32);
  EXPECT_EQ(mla_wg_heads_per_cta(96), 32);
  EXPECT_EQ(mla_wg_heads_per_cta(64), 64);
  EXPECT_EQ(mla_wg_heads_per_cta(128), 64);
  EXPECT_EQ(mla_wg_threads(16), 128);
  EXPECT_EQ(mla_wg_threads(32), 128);
  EXPECT_EQ(mla_wg_threads(64), 256);
  // 36 KB of queries, two stages of 64 rows, P^T 4 KB, the maxima 1 KB, 1 KB of alignment;
  // at 64 heads exactly the 227 KB a CTA may have.
  EXPECT_EQ(mla_wg_smem_bytes(32), 32 * 1152 + 2 * 64 * 1152 + 32 * 128 + 1024 + 1024);
  EXPECT_EQ(mla_wg_smem_bytes(64), 227 * 1024);
  EXPECT_EQ(mla_wg_smem_bytes(16), 16 * 1152 + 2 * 64 * 1152 + 16 * 128 + 512 + 1024);
  for (int64_t batch : {1, 7, 64})
    for (int heads : {16, 32, 48, 64, 96, 128})
      for (int64_t len : {1, 63, 65, 1000, 4096}) {
        const MlaDecodeSplit s = mla_decode_split(batch, heads, len, 132, 0, wg);
        EXPECT_EQ(s.form, wg);
        EXPECT_EQ(s.chunk % kMlaWgTileTokens, 0) << heads << " " << len;
        EXPECT_GE(int64_t(s.chunk) * s.max_splits, len);
        EXPECT_LT(int64_t(s.chunk) * (s.max_splits - 1), len);
        EXPECT_EQ(s.stages, kMlaWgStages);
      }
  const LaunchPlan p = plan_mla_decode("bf16", mla(4, 3000, 100, 128), 132, 0, wg);
  EXPECT_EQ(p.variant, "sm90_bf16_wgmma_mla_decode");
  ASSERT_EQ(p.launches.size(), 2u);
  EXPECT_EQ(p.launches[0].kernel, "mla_decode_wgmma_kernel<4>");
  EXPECT_EQ(p.launches[0].block, 256);
  EXPECT_EQ(p.launches[0].smem_bytes, mla_wg_smem_bytes(64));
  const int splits = mla_decode_split(4, 128, 3000, 132, 0, wg).max_splits;
  EXPECT_EQ(p.launches[0].grid, int64_t(2) * splits * 4);  // head groups x splits x sequences
  EXPECT_EQ(plan_mla_decode("bf16", mla(4, 3000, 100, 96), 132, 0, wg).launches[0].kernel,
            "mla_decode_wgmma_kernel<2>");
  EXPECT_EQ(plan_mla_decode("bf16", mla(4, 3000, 100, 48), 132, 0, wg).launches[0].kernel,
            "mla_decode_wgmma_kernel<1>");

  // The kernels' form follows the variable; the cost models' plans follow their rule, never the
  // environment.
  unsetenv("QUADRANT_MLA_DECODE_FORM");
  EXPECT_EQ(mla_decode_form(), kMlaDecodeForm);
  EXPECT_EQ(PlanRules().mla_decode_form, kMlaDecodeForm);
  EXPECT_EQ(PlanRules::legacy().mla_decode_form, MlaDecodeForm::kMma);
  PlanOptions under_mma;
  under_mma.rules.mla_decode_form = MlaDecodeForm::kMma;
  const ShapeParams small = mla(4, 100, 100, 16);
  EXPECT_EQ(plan_launches("mla_decode", "bf16", small, 132).variant, "sm90_bf16_wgmma_mla_decode");
  EXPECT_EQ(plan_launches("mla_decode", "bf16", small, 132, under_mma).variant,
            "sm90_bf16_mma_mla_decode");
  setenv("QUADRANT_MLA_DECODE_FORM", "wgmma", 1);
  EXPECT_EQ(mla_decode_form(), wg);
  EXPECT_EQ(mla_decode_split(4, 16, 1000, 132).form, wg);
  EXPECT_EQ(plan_launches("mla_decode", "bf16", small, 132, under_mma).variant,
            "sm90_bf16_mma_mla_decode");
  setenv("QUADRANT_MLA_DECODE_FORM", "mma", 1);
  EXPECT_EQ(mla_decode_form(), MlaDecodeForm::kMma);
  EXPECT_EQ(mla_decode_split(4, 16, 1000, 132).form, MlaDecodeForm::kMma);
  EXPECT_EQ(plan_launches("mla_decode", "bf16", small, 132).variant, "sm90_bf16_wgmma_mla_decode");
  setenv("QUADRANT_MLA_DECODE_FORM", "wgmma2", 1);
  EXPECT_THROW(mla_decode_form(), std::invalid_argument);
  unsetenv("QUADRANT_MLA_DECODE_FORM");
}

// The wgmma form's split constants (kMlaWg*) pick the H100 sweep's best fixed count where the
// mma form's did not (twentieth_h100_mla_sweep.log): 8 splits, one wave, at b16 kv4096 h16
// (0.0406 ms; 16 splits 0.0520), and keep 8 at b16 kv4096 h64 and 16 at b4 kv8192 h128.
TEST(MlaDecodePlan, WgmmaFormSplitConstantsPickTheH100SweepsBestCounts) {
  const auto wg = MlaDecodeForm::kWgmma;
  EXPECT_DOUBLE_EQ(mla_split_model(wg).cta_overhead_bytes, kMlaWgCtaOverheadBytes);
  EXPECT_DOUBLE_EQ(mla_split_model(wg).tail_fraction, kMlaWgTailFraction);
  EXPECT_DOUBLE_EQ(mla_split_model(wg).combine_overhead_bytes, kMlaCombineOverheadBytes);
  EXPECT_EQ(mla_decode_split(16, 16, 4096, 132, 0, wg).max_splits, 8);
  EXPECT_EQ(mla_decode_split(16, 16, 4096, 132, 0, MlaDecodeForm::kMma).max_splits, 16);
  EXPECT_EQ(mla_decode_split(16, 64, 4096, 132, 0, wg).max_splits, 8);
  EXPECT_EQ(mla_decode_split(4, 128, 8192, 132, 0, wg).max_splits, 16);
}

TEST(MlaDecodePlan, RejectsBadShapes) {
  EXPECT_THROW(plan_launches("mla_decode", "bf16", mla(4, 100, 100, 24), 132),
               std::invalid_argument);
  EXPECT_THROW(plan_launches("mla_decode", "fp8", mla(4, 100, 100, 16), 132),
               std::invalid_argument);
  EXPECT_THROW(plan_launches("mla_decode", "bf16", mla(4, 100, 200, 16), 132),
               std::invalid_argument);
  ShapeParams typo = mla(4, 100, 100, 16);
  typo["head_dim"] = 576;
  EXPECT_THROW(plan_launches("mla_decode", "bf16", typo, 132), std::invalid_argument);
  EXPECT_THROW(mla_decode_split(4, 16, 100, 132, -1), std::invalid_argument);
}

}  // namespace
}  // namespace quadrant::kernels::plan
