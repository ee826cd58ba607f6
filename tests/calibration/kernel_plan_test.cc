// The launch plans against what the kernels really launched: CUPTI recorded every
// kernel's grid in the committed profiles, so the CTA counts and paths of the plans are
// checked on every profiled shape (tests run from the repository root).
#include "calibration/kernel_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "calibration/profile.h"
#include "kernels/plan/launch_plan.h"

namespace quadrant::calibration {
namespace {

std::vector<Profile> committed(const std::string& op) {
  std::vector<Profile> out;
  for (const char* dir : {"calibration/profiles/H200", "calibration/profiles/H200-shards",
                          "calibration/profiles/H200-validation"}) {
    const std::string file = std::string(dir) + "/" + op + ".json";
    if (std::filesystem::exists(file)) out.push_back(read_profile(file));
  }
  return out;
}

std::vector<int64_t> lens(const ProfileShape& s, const char* max_name, const char* min_name) {
  const int64_t batch = s.params.at("batch"), hi = s.params.at(max_name);
  const int64_t lo = s.params.count(min_name) ? s.params.at(min_name) : hi;
  std::vector<int64_t> v;
  for (int64_t b = 0; b < batch; ++b)
    v.push_back(lo + (hi - lo) * ((b * 7919) % batch) / std::max<int64_t>(1, batch - 1));
  return v;
}

double grid_ctas(const KernelRecord& k) {
  return static_cast<double>(k.grid[0]) * k.grid[1] * k.grid[2];
}

// CTAs of a recorded kernel that fit on an SM: 64K registers (8 per thread at a time), 228 KB
// of shared memory (1 KB of it reserved per CTA), 2048 threads, 32 CTAs.
int64_t recorded_residency(const KernelRecord& k) {
  const int threads = k.block[0] * k.block[1] * k.block[2];
  const int per_thread = (k.registers + 7) / 8 * 8;
  return std::min<int64_t>(
      {65536 / (threads * per_thread), 228 * 1024 / (k.shared_bytes + 1024), 2048 / threads, 32});
}

TEST(KernelPlan, DecodeAttentionCtasMatchTheRecordedGrids) {
  int checked = 0;
  for (const Profile& p : committed("decode_attention"))
    for (const ProfileShape& s : p.shapes) {
      const KernelPlan plan = decode_attention_plan(
          lens(s, "kv_len", "kv_len_min"), static_cast<int>(s.params.at("heads")),
          static_cast<int>(s.params.at("kv_heads")), static_cast<int>(s.params.at("head_dim")),
          s.format == "bf16" ? 2 : 1);
      // The kernels' own plan (what calibration fits on) and the mirror (its fallback).
      const auto kp = kernels::plan::plan_launches(
          "decode_attention", s.format, kernels::ShapeParams(s.params.begin(), s.params.end()),
          kPlanSms);
      for (const KernelRecord& k : s.kernels)
        if (k.name.find("combine") == std::string::npos) {
          EXPECT_EQ(grid_ctas(k), plan.ctas) << shape_key(s);
          EXPECT_EQ(grid_ctas(k), static_cast<double>(kp.launches.at(0).grid)) << shape_key(s);
          ++checked;
        }
    }
  ASSERT_GT(checked, 0) << "no committed decode attention profiles (run from the repository root)";
  EXPECT_GT(checked, 400);
}

// The split-KV kernel's residency in the plans against the registers and shared memory CUPTI
// recorded for it.
TEST(KernelPlan, DecodeSplitKernelResidencyFitsTheRecordedRegisters) {
  int checked = 0;
  for (const Profile& p : committed("decode_attention"))
    for (const ProfileShape& s : p.shapes)
      for (const KernelRecord& k : s.kernels) {
        if (k.name.find("decode_attention_split_kernel") == std::string::npos) continue;
        const int64_t resident = recorded_residency(k);
        const auto kp = kernels::plan::plan_launches(
            "decode_attention", s.format, kernels::ShapeParams(s.params.begin(), s.params.end()),
            kPlanSms);
        EXPECT_EQ(kp.launches.at(0).ctas_per_sm, resident) << shape_key(s) << " " << k.registers;
        const KernelPlan plan = decode_attention_plan(
            lens(s, "kv_len", "kv_len_min"), static_cast<int>(s.params.at("heads")),
            static_cast<int>(s.params.at("kv_heads")), static_cast<int>(s.params.at("head_dim")),
            s.format == "bf16" ? 2 : 1);
        EXPECT_EQ(plan.slots, static_cast<double>(kPlanSms * resident)) << shape_key(s);
        ++checked;
      }
  EXPECT_GT(checked, 100) << "committed split-kernel shapes (run from the repository root)";
}

TEST(KernelPlan, PrefillAttentionCtasMatchTheRecordedGrids) {
  int checked = 0;
  for (const Profile& p : committed("prefill_attention"))
    for (const ProfileShape& s : p.shapes) {
      const int qk = static_cast<int>(s.params.at("head_dim"));
      const int v = static_cast<int>(s.params.count("v_head_dim") ? s.params.at("v_head_dim") : qk);
      const KernelPlan plan = prefill_attention_plan(
          lens(s, "seq_len", "seq_len_min"),
          s.params.count("prefix_len") ? s.params.at("prefix_len") : 0,
          static_cast<int>(s.params.at("heads")), static_cast<int>(s.params.at("kv_heads")), qk, v,
          s.format == "fp8");
      const auto kp = kernels::plan::plan_launches(
          "prefill_attention", s.format, kernels::ShapeParams(s.params.begin(), s.params.end()),
          kPlanSms);
      double planned = 0;
      for (const auto& l : kp.launches)
        if (l.kernel.find("prefill_attention") != std::string::npos)
          planned = static_cast<double>(l.grid);
      for (const KernelRecord& k : s.kernels)
        if (k.name.find("prefill_attention_kernel") != std::string::npos) {
          EXPECT_EQ(grid_ctas(k), plan.ctas) << shape_key(s);
          EXPECT_EQ(grid_ctas(k), planned) << shape_key(s);
          // The wgmma kernels are named sm90_...; the mma.sync one is not.
          EXPECT_EQ(k.name.find("sm90_prefill") != std::string::npos, plan.path != "mma")
              << shape_key(s) << " " << k.name;
          ++checked;
        }
    }
  ASSERT_GT(checked, 0) << "no committed prefill attention profiles (run from the repository root)";
  EXPECT_GT(checked, 300);
}

// The MoE FFN takes the persistent wgmma grouped GEMM (one CTA per SM) at 48 or more rows
// per expert, and the 16-row mma.sync kernels below.
TEST(KernelPlan, MoeFfnPathMatchesTheRecordedKernels) {
  int checked = 0;
  for (const char* op : {"prefill_ffn", "decode_ffn"})
    for (const Profile& p : committed(op))
      for (const ProfileShape& s : p.shapes) {
        const double rows = static_cast<double>(s.params.at("tokens") * s.params.at("top_k"));
        const std::string path = moe_ffn_path(rows, static_cast<int>(s.params.at("experts")));
        bool wgmma = false;
        for (const KernelRecord& k : s.kernels)
          if (k.name.find("sm90_grouped_gemm") != std::string::npos) {
            wgmma = true;
            EXPECT_EQ(grid_ctas(k), kPlanSms) << shape_key(s);
          }
        EXPECT_EQ(wgmma, path == "wgmma") << shape_key(s);
        ++checked;
      }
  ASSERT_GT(checked, 0) << "no committed FFN profiles (run from the repository root)";
}

// The MoE FFN's mma.sync GEMMs (16 rows, BF16 / FP8; W4A8's form 8, the "occ" kernel): the
// plan's residency against the registers and shared memory CUPTI recorded for them.
TEST(KernelPlan, MoeMmaGemmResidencyFitsTheRecordedRegisters) {
  int checked = 0;
  for (const char* op : {"prefill_ffn", "decode_ffn"})
    for (const Profile& p : committed(op))
      for (const ProfileShape& s : p.shapes) {
        const auto kp = kernels::plan::plan_launches(
            op, s.format, kernels::ShapeParams(s.params.begin(), s.params.end()), kPlanSms);
        for (const KernelRecord& k : s.kernels) {
          const bool mma = k.name.find("moe_grouped_gemm_kernel") != std::string::npos;
          if (!mma && k.name.find("moe_w4a8_decode_gemm_v2_occ_kernel") == std::string::npos)
            continue;
          for (const auto& l : kp.launches)
            if (l.kernel.find(mma ? "moe_grouped_gemm_kernel" : "4 CTAs") != std::string::npos) {
              EXPECT_EQ(l.ctas_per_sm, recorded_residency(k)) << shape_key(s) << " " << l.kernel;
              ++checked;
            }
        }
      }
  EXPECT_GT(checked, 300) << "committed mma.sync GEMM launches (run from the repository root)";
}

// The mirror's mma.sync FFN (shapes the kernels refuse) takes the residency of the model's
// plan rules: the kernels' plan's GEMM CTAs per SM under the register rule (BF16 3, FP8 2,
// W4A8 4), four per SM under the legacy one (the mirror as before the rule); the waves follow.
TEST(KernelPlan, MoeFfnMirrorFollowsTheResidencyRule) {
  const kernels::ShapeParams shape = {
      {"tokens", 32}, {"experts", 128}, {"top_k", 8}, {"hidden", 2048}, {"intermediate", 768}};
  kernels::plan::PlanOptions registers;
  registers.rules.moe_mma_residency = kernels::plan::MoeMmaResidency::kRegisters;
  registers.rules.w4a8_decode_form = 10;  // W4A8 on mma.sync (forms 11-14: two CTAs by bounds)
  for (const char* format : {"bf16", "fp8", "w4a8"}) {
    int kernels_ctas = 0;
    for (const auto& l :
         kernels::plan::plan_launches("decode_ffn", format, shape, kPlanSms, registers).launches)
      if (l.kernel.find("(gate/up)") != std::string::npos) kernels_ctas = l.ctas_per_sm;
    const KernelPlan legacy =
        moe_ffn_plan(256, 128, 32, 2048, 768, format, kernels::plan::PlanRules::legacy());
    const KernelPlan now = moe_ffn_plan(256, 128, 32, 2048, 768, format, registers.rules);
    ASSERT_EQ(now.path, std::string("mma16"));
    EXPECT_EQ(kernels_ctas, std::string(format) == "bf16"  ? 3
                            : std::string(format) == "fp8" ? 2
                                                           : 4)
        << format;
    EXPECT_DOUBLE_EQ(now.slots, kPlanSms * kernels_ctas) << format;
    EXPECT_DOUBLE_EQ(legacy.slots, kPlanSms * 4.0) << format;
    EXPECT_DOUBLE_EQ(now.ctas, legacy.ctas) << format;
    EXPECT_GE(now.waves, legacy.waves) << format;
  }
}

// The mirror's W4A8 wgmma FFN under the producer rule (PlanRules::w4a8_prefill_dequant): no copy
// of every expert in the helper bytes (3 h i x 1.5 bytes an expert), the weights at half a byte
// in the busiest slot's bytes; the same tiles. BF16 and FP8 are unchanged by the rule.
TEST(KernelPlan, MoeFfnMirrorFollowsTheW4a8PrefillRule) {
  kernels::plan::PlanRules producer;
  producer.w4a8_prefill_dequant = kernels::plan::W4a8PrefillDequant::kProducer;
  const double rows = 8192, e = 128, h = 2048, i = 768;
  kernels::plan::PlanRules scratch;
  scratch.w4a8_prefill_dequant = kernels::plan::W4a8PrefillDequant::kScratch;
  const KernelPlan copy = moe_ffn_plan(rows, 128, 1024, 2048, 768, "w4a8", scratch);
  const KernelPlan in_producer = moe_ffn_plan(rows, 128, 1024, 2048, 768, "w4a8", producer);
  ASSERT_EQ(copy.path, std::string("wgmma"));
  ASSERT_EQ(in_producer.path, std::string("wgmma"));
  EXPECT_DOUBLE_EQ(copy.aux_bytes - in_producer.aux_bytes, e * 3 * h * i * 1.5);
  EXPECT_DOUBLE_EQ(copy.ctas, in_producer.ctas);
  EXPECT_DOUBLE_EQ(copy.waves, in_producer.waves);
  EXPECT_DOUBLE_EQ(copy.sched_flops, in_producer.sched_flops);
  // (256 w + 128 a) k per tile: 256 + 128 at a byte each against 128 + 128.
  EXPECT_DOUBLE_EQ(in_producer.crit_bytes / copy.crit_bytes, 256.0 / 384.0);
  // By rows (the default): the producer at these 64 rows an expert, the copy above 256.
  kernels::plan::PlanRules by_rows;
  by_rows.w4a8_prefill_dequant = kernels::plan::W4a8PrefillDequant::kByRows;
  EXPECT_DOUBLE_EQ(moe_ffn_plan(rows, 128, 1024, 2048, 768, "w4a8", by_rows).aux_bytes,
                   in_producer.aux_bytes);
  EXPECT_DOUBLE_EQ(moe_ffn_plan(256 * 128, 128, 4096, 2048, 768, "w4a8", by_rows).aux_bytes,
                   moe_ffn_plan(256 * 128, 128, 4096, 2048, 768, "w4a8", producer).aux_bytes);
  EXPECT_DOUBLE_EQ(moe_ffn_plan(257 * 128, 128, 4112, 2048, 768, "w4a8", by_rows).aux_bytes,
                   moe_ffn_plan(257 * 128, 128, 4112, 2048, 768, "w4a8", scratch).aux_bytes);
  for (const char* format : {"bf16", "fp8"}) {
    const KernelPlan a = moe_ffn_plan(rows, 128, 1024, 2048, 768, format, scratch);
    const KernelPlan b = moe_ffn_plan(rows, 128, 1024, 2048, 768, format, producer);
    EXPECT_DOUBLE_EQ(a.aux_bytes, b.aux_bytes) << format;
    EXPECT_DOUBLE_EQ(a.crit_bytes, b.crit_bytes) << format;
  }
}

// The wgmma decode GEMMs in the mirror (FP8 under PlanRules::fp8_decode_gemm, W4A8 forms 11-14):
// the slots of their launch bounds (two CTAs an SM) under either residency rule, the same tiles.
TEST(KernelPlan, MoeFfnMirrorTakesTheWgmmaDecodeGemmsSlots) {
  namespace kp = kernels::plan;
  const double rows = 64;
  const int e = 32;
  for (const kp::MoeMmaResidency residency :
       {kp::MoeMmaResidency::kSharedMemory, kp::MoeMmaResidency::kRegisters}) {
    kp::PlanRules mma, wg;
    mma.moe_mma_residency = wg.moe_mma_residency = residency;
    mma.fp8_decode_gemm = kp::Fp8DecodeGemm::kMma;
    wg.fp8_decode_gemm = kp::Fp8DecodeGemm::kWgmma;
    const KernelPlan a = moe_ffn_plan(rows, e, 8, 7168, 2048, "fp8", mma);
    const KernelPlan b = moe_ffn_plan(rows, e, 8, 7168, 2048, "fp8", wg);
    ASSERT_EQ(b.path, std::string("mma16"));
    EXPECT_DOUBLE_EQ(b.slots, kPlanSms * kp::kMoeFp8WgCtasPerSm);
    EXPECT_DOUBLE_EQ(a.slots, kPlanSms * (residency == kp::MoeMmaResidency::kRegisters
                                              ? kp::moe_mma_ctas_per_sm(false, 0)
                                              : 4.0));
    EXPECT_DOUBLE_EQ(a.ctas, b.ctas);
    for (const int form : {kp::kMoeW4WgForm, kp::kMoeW4WgOffsetForm, kp::kMoeW4WgHalvesForm,
                           kp::kMoeW4WgTilesForm, kp::kMoeW4WgDeep6Form, kp::kMoeW4WgDeep8Form,
                           kp::kMoeW4WgRotateForm, kp::kMoeW4WgKbMajorForm}) {
      kp::PlanRules w4 = mma;
      w4.w4a8_decode_form = form;
      EXPECT_DOUBLE_EQ(moe_ffn_plan(rows, e, 8, 7168, 2048, "w4a8", w4).slots,
                       kPlanSms * kp::kMoeW4WgCtasPerSm)
          << form;
    }
  }
}

// W4A8 form 14 in the mirror: its 32-row tiles from 12 rows per expert (the kernels' rule, 16 rows
// below), so that with every expert's rows in one 32-row tile its CTAs are form 13's halved and
// each CTA's scheduled work doubled; below the rule, form 13's plan.
TEST(KernelPlan, MoeFfnMirrorTakesFormFourteensTiles) {
  namespace kp = kernels::plan;
  kp::PlanRules thirteen, fourteen;
  thirteen.w4a8_decode_form = kp::kMoeW4WgHalvesForm;
  fourteen.w4a8_decode_form = kp::kMoeW4WgTilesForm;
  // 32 experts, 512 rows (64 tokens top-8): 16 rows per expert on average.
  const KernelPlan a = moe_ffn_plan(512, 32, 64, 7168, 2048, "w4a8", thirteen);
  const KernelPlan b = moe_ffn_plan(512, 32, 64, 7168, 2048, "w4a8", fourteen);
  EXPECT_LT(b.ctas, a.ctas);
  EXPECT_GE(b.ctas, a.ctas / 2 - 1e-9);
  EXPECT_DOUBLE_EQ(b.slots, a.slots);
  // 64 rows: 2 per expert, 16-row tiles either way.
  const KernelPlan c = moe_ffn_plan(64, 32, 8, 7168, 2048, "w4a8", thirteen);
  const KernelPlan d = moe_ffn_plan(64, 32, 8, 7168, 2048, "w4a8", fourteen);
  EXPECT_DOUBLE_EQ(d.ctas, c.ctas);
  EXPECT_DOUBLE_EQ(d.sched_flops, c.sched_flops);
  EXPECT_DOUBLE_EQ(d.crit_bytes, c.crit_bytes);
}

TEST(KernelPlan, ExpectedTilesPerBinClosedForms) {
  // One bin holds every row.
  EXPECT_DOUBLE_EQ(expected_tiles_per_bin(1000, 1, 128), 8);
  // Tiles of one row: the expected rows per bin.
  EXPECT_NEAR(expected_tiles_per_bin(1000, 8, 1), 125, 1e-6);
  // One row over 4 bins: a bin holds it (one tile) with probability 1/4.
  EXPECT_NEAR(expected_tiles_per_bin(1, 4, 128), 0.25, 1e-9);
  // At least the mean rows over the tile, at most one tile more.
  for (double n : {10.0, 300.0, 5000.0, 100000.0})
    for (double bins : {2.0, 16.0, 64.0}) {
      const double t = expected_tiles_per_bin(n, bins, 128);
      EXPECT_GE(t, n / bins / 128 - 1e-9) << n << " " << bins;
      EXPECT_LE(t, n / bins / 128 + 1 + 1e-9) << n << " " << bins;
    }
}

// The busiest slot's share times the slots is never below the total, and equals it when
// alike CTAs fill whole waves.
TEST(KernelPlan, ScheduledWorkBoundsTheTotal) {
  const KernelPlan even = decode_attention_plan(std::vector<int64_t>(132, 256 * 6), 8, 8, 128, 2);
  const double total = 4.0 * 132 * 256 * 6 * 8 * 128;
  EXPECT_GE(even.sched_flops, total * (1 - 1e-12));
  for (int64_t prefix : {0, 1000, 8000}) {
    const KernelPlan p = prefill_attention_plan({3000, 1000, 77}, prefix, 16, 2, 128, 128, false);
    // The scheduled FLOPs count every CTA's whole K/V tiles.
    EXPECT_GT(p.sched_flops, 0);
    EXPECT_GE(p.waves, std::ceil(p.ctas / p.slots) - 1e-9);
  }
  const KernelPlan g = dense_gemm_plan(4096, 4096, 4096, 2);
  EXPECT_GE(g.sched_flops, 2.0 * 4096 * 4096 * 4096);
  EXPECT_EQ(g.ctas, 32 * 32);
  EXPECT_EQ(g.waves, 8);
}

}  // namespace
}  // namespace quadrant::calibration
