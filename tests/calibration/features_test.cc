#include "calibration/features.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>

#include "calibration/kernel_plan.h"
#include "kernels/plan/dispatch.h"
#include "kernels/plan/launch_plan.h"
#include "kernels/plan/shape.h"
#include "sim/core/error.h"
#include "sim/model/accounting.h"

namespace quadrant::calibration {
namespace {

ModelSpec mixtral_like() {
  ModelSpec m;
  m.name = "moe";
  m.num_layers = 32;
  m.hidden_size = 4096;
  m.vocab_size = 32000;
  m.attention.kind = AttentionKind::kGqa;
  m.attention.num_heads = 32;
  m.attention.num_kv_heads = 8;
  m.attention.head_dim = 128;
  m.ffn.kind = FfnKind::kMoe;
  m.ffn.num_experts = 8;
  m.ffn.top_k = 2;
  m.ffn.expert_intermediate_size = 14336;
  return m;
}

// The core the fitted component sees plus the residual the GEMM model sees is exactly the
// work accounting.h puts in the shape, for every batch: nothing is costed twice or lost.
TEST(Features, CorePlusResidualIsTheShapesWork) {
  const ModelSpec m = mixtral_like();
  Layout l;
  l.tp = 2;
  for (Phase phase : {Phase::kPrefill, Phase::kDecode})
    for (int seqs : {1, 8, 64}) {
      BatchShape b{seqs, phase == Phase::kDecode ? seqs : seqs * 512,
                   static_cast<int64_t>(seqs) * 2048};
      QuadrantShape s = attention_shape(m, l, phase, b);
      Features core = core_features(s);
      Features rest = residual_gemm_features(s, core);
      EXPECT_NEAR(core.flops + rest.flops, s.flops.value(), 1e-6 * s.flops.value());
      // The residual is the projections: 2 x new tokens x projection parameters per GPU.
      EXPECT_NEAR(rest.flops, 2.0 * b.new_tokens * attention_parameters_per_layer(m) / l.tp,
                  1e-6 * rest.flops);
      QuadrantShape f = ffn_shape(m, l, phase, b.new_tokens, true);
      Features fc = core_features(f);
      EXPECT_GT(fc.flops, 0);
      EXPECT_LE(fc.flops, f.flops.value() * (1 + 1e-9));
      EXPECT_GE(fc.padded_flops, fc.flops);
    }
}

// The snapping of every simulated shape reads core_flops_bytes, the fit core_work: the two
// must agree to the bit on every quadrant (else a memoised answer belongs to another shape).
TEST(Features, CoreFlopsBytesIsCoreWorksFlopsAndBytes) {
  ModelSpec m = mixtral_like();
  ModelSpec mla = m;
  mla.attention.kind = AttentionKind::kMla;
  mla.attention.num_heads = 16;
  mla.attention.num_kv_heads = 1;
  int checked = 0;
  for (const ModelSpec* spec : {&m, &mla})
    for (int tp : {1, 2, 8})
      for (Phase phase : {Phase::kPrefill, Phase::kDecode})
        for (int seqs : {1, 3, 64, 255}) {
          Layout l;
          l.tp = tp;
          BatchShape b{seqs, phase == Phase::kDecode ? seqs : seqs * 333,
                       static_cast<int64_t>(seqs) * 1777};
          for (const QuadrantShape& s : {attention_shape(*spec, l, phase, b),
                                         ffn_shape(*spec, l, phase, b.new_tokens, true)}) {
            for (NumberFormat f : {NumberFormat::kBf16, NumberFormat::kFp8, NumberFormat::kW4A8}) {
              QuadrantShape x = s;
              x.compute_format = f;
              const Features w = core_work(x);
              const CoreWork c = core_flops_bytes(x);
              EXPECT_EQ(c.flops, w.flops);
              EXPECT_EQ(c.bytes, w.bytes);
              checked += w.flops > 0;
            }
          }
        }
  EXPECT_GT(checked, 100);
}

TEST(Features, ProfiledShapeMatchesAccountingShape) {
  // A decode-attention profile shape of batch 64 at 4096 KV tokens is accounting's shape
  // of the same batch on one GPU.
  ProfileShape p;
  p.format = "bf16";
  p.params = {{"batch", 64}, {"kv_len", 4096}, {"heads", 16}, {"kv_heads", 4}, {"head_dim", 128}};
  QuadrantShape s = shape_from_params("decode_attention", p, "f", "shapes[0]");
  const ModelSpec m = mixtral_like();
  Layout l;
  l.tp = 2;
  QuadrantShape a = attention_shape(m, l, Phase::kDecode, {64, 64, 64 * 4096});
  EXPECT_EQ(s.heads, a.heads);
  EXPECT_EQ(s.kv_heads, a.kv_heads);
  EXPECT_DOUBLE_EQ(core_features(s).flops, core_features(a).flops);
  EXPECT_DOUBLE_EQ(core_features(s).bytes, core_features(a).bytes);
}

// Spread lengths enter with the sum the kernel actually runs (1 + 1000 + ... evenly).
TEST(Features, SpreadLengthsAreSummedAsTheKernelSpreadsThem) {
  ProfileShape p;
  p.format = "bf16";
  p.params = {{"batch", 3},    {"kv_len", 1001}, {"kv_len_min", 1}, {"heads", 8},
              {"kv_heads", 8}, {"head_dim", 64}, {"block_size", 16}};
  QuadrantShape s = shape_from_params("decode_attention", p, "f", "p");
  EXPECT_EQ(s.context_tokens, 1 + 501 + 1001);
  ProfileShape q;
  q.format = "fp8";
  q.params = {{"batch", 2},    {"seq_len", 100},  {"prefix_len", 0},  {"heads", 8},
              {"kv_heads", 2}, {"head_dim", 192}, {"v_head_dim", 128}};
  QuadrantShape t = shape_from_params("prefill_attention", q, "f", "p");
  EXPECT_EQ(t.new_tokens, 200);
  EXPECT_EQ(t.context_tokens, 200);
  EXPECT_EQ(t.compute_format, NumberFormat::kFp8);
  // Causal pairs of two 100-token sequences.
  EXPECT_DOUBLE_EQ(core_features(t).flops, 2.0 * 2 * (100 * 101 / 2) * 8 * (192 + 128));
}

// The split-KV combine merges a row's partials in one warp: the row of the most splits is
// a serial path of splits x (head_dim + 1) floats, as the kernels' plan splits the shape;
// none without a split. The mirror (shapes the kernels refuse) says the same.
TEST(Features, SerialBytesFollowTheCombinesLongestRow) {
  ProfileShape p;
  p.format = "bf16";
  p.params = {{"batch", 1},    {"kv_len", 16384}, {"heads", 2},
              {"kv_heads", 1}, {"head_dim", 128}, {"block_size", 16}};
  const auto plan = kernels::plan::plan_launches(
      "decode_attention", "bf16", kernels::ShapeParams(p.params.begin(), p.params.end()), 132);
  const int64_t splits = plan.choice("split_kv");
  ASSERT_GT(splits, 8);  // one sequence: spread over the SMs
  const Features f = profile_features("decode_attention", p, "f", "p");
  EXPECT_DOUBLE_EQ(f.serial_bytes, double(splits) * 129 * 4);
  EXPECT_DOUBLE_EQ(decode_attention_plan({16384}, 2, 1, 128, 2).serial_bytes, f.serial_bytes);
  p.params["batch"] = 512;  // many sequences: one split each, no combine
  p.params["kv_len"] = 256;
  EXPECT_EQ(profile_features("decode_attention", p, "f", "p").serial_bytes, 0);
}

// A decode attention CTA's per-round work that its KV tokens do not set grows with its query
// heads: head_rounds = the split kernel's rounds over its slots x the heads per CTA. FP8 on the
// mma kernel, 3 CTAs per SM (396 slots), one split per sequence of 308 tokens: 84 sequences of
// 32/4 heads are 84 x 4 CTAs of 8 heads (one round), 200 of them 800 CTAs (three rounds); 8/8
// heads put one head in each of 84 x 8 CTAs (two rounds). The mirror says the same; other
// ops have none.
TEST(Features, HeadRoundsAreRoundsTimesHeadsPerCta) {
  ProfileShape p;
  p.format = "fp8";
  p.params = {{"batch", 84},   {"kv_len", 308},   {"heads", 32},
              {"kv_heads", 4}, {"head_dim", 128}, {"block_size", 16}};
  auto plan_of = [&] {
    return kernels::plan::plan_launches(
        "decode_attention", "fp8", kernels::ShapeParams(p.params.begin(), p.params.end()), 132);
  };
  ASSERT_EQ(plan_of().choice("split_kv"), 1);
  ASSERT_EQ(plan_of().launches[0].grid, 84 * 4);
  EXPECT_DOUBLE_EQ(profile_features("decode_attention", p, "f", "p").head_rounds, 1 * 8);
  EXPECT_DOUBLE_EQ(decode_attention_plan(std::vector<int64_t>(84, 308), 32, 4, 128, 1).head_rounds,
                   1 * 8);
  p.params["batch"] = 200;
  EXPECT_DOUBLE_EQ(profile_features("decode_attention", p, "f", "p").head_rounds, 3 * 8);
  p.params["batch"] = 84;
  p.params["heads"] = p.params["kv_heads"] = 8;
  EXPECT_DOUBLE_EQ(profile_features("decode_attention", p, "f", "p").head_rounds, 2 * 1);
  EXPECT_DOUBLE_EQ(decode_attention_plan(std::vector<int64_t>(84, 308), 8, 8, 128, 1).head_rounds,
                   2 * 1);
  ProfileShape q;
  q.format = "bf16";
  q.params = {{"batch", 2}, {"seq_len", 1000}, {"heads", 8}, {"kv_heads", 2}, {"head_dim", 128}};
  EXPECT_EQ(profile_features("prefill_attention", q, "f", "p").head_rounds, 0);
}

// Empty split CTAs: the grid is max splits x head groups x sequences; the plan's working
// CTAs are each sequence's own splits. Equal lengths leave none empty; mixed lengths leave
// (grid - working CTAs) / slots, the slots of the split kernel (d256 BF16 at 1 head per CTA:
// 6 per SM).
TEST(Features, EmptyWavesAreTheGridsIdleCtasOverTheSlots) {
  ProfileShape p;
  p.format = "bf16";
  p.params = {{"batch", 8},    {"kv_len", 8192},  {"heads", 2},
              {"kv_heads", 2}, {"head_dim", 256}, {"block_size", 16}};
  EXPECT_EQ(profile_features("decode_attention", p, "f", "p").empty_waves, 0);
  p.params["kv_len_min"] = 128;
  const auto plan = kernels::plan::plan_launches(
      "decode_attention", "bf16", kernels::ShapeParams(p.params.begin(), p.params.end()), 132);
  const kernels::plan::KernelLaunch& split = plan.launches.at(0);
  ASSERT_GT(static_cast<double>(split.grid), split.work_items);
  ASSERT_EQ(split.ctas_per_sm, 6);
  EXPECT_DOUBLE_EQ(profile_features("decode_attention", p, "f", "p").empty_waves,
                   (static_cast<double>(split.grid) - split.work_items) / (132.0 * 6));
  ProfileShape q;
  q.format = "bf16";
  q.params = {{"batch", 2}, {"seq_len", 1000}, {"heads", 8}, {"kv_heads", 2}, {"head_dim", 128}};
  EXPECT_EQ(profile_features("prefill_attention", q, "f", "p").empty_waves, 0);
}

// The 16-row MoE GEMMs read an expert's weights once per m-tile: with every expert taking
// every token (top_k = experts), 17 tokens make two m-tiles per expert and one re-read of
// all 8 experts' gate/up and down weights; 16 tokens make one tile and none. The wgmma path
// (48+ rows per expert) carries its tiles' weights in its busiest slot instead: none.
TEST(Features, RereadBytesCountAnExpertsLaterMTiles) {
  ProfileShape p;
  p.format = "bf16";
  p.params = {
      {"tokens", 17}, {"experts", 8}, {"top_k", 8}, {"hidden", 1024}, {"intermediate", 512}};
  EXPECT_DOUBLE_EQ(profile_features("decode_ffn", p, "f", "p").reread_bytes,
                   8.0 * 3 * 1024 * 512 * 2);
  // W4A8 on 16-row tiles: form 10 (forms 11-13 too; form 14 takes 32-row tiles from 12 rows
  // per expert: one tile at 17 rows, two at 33).
  p.format = "w4a8";
  kernels::plan::PlanRules ten;
  ten.w4a8_decode_form = 10;
  EXPECT_DOUBLE_EQ(profile_features("decode_ffn", p, "f", "p", nullptr, ten).reread_bytes,
                   8.0 * 3 * 1024 * 512 * 0.5);
  p.params["tokens"] = 16;
  EXPECT_EQ(profile_features("decode_ffn", p, "f", "p", nullptr, ten).reread_bytes, 0);
  p.params["tokens"] = 33;  // three m-tiles per expert
  EXPECT_DOUBLE_EQ(profile_features("prefill_ffn", p, "f", "p", nullptr, ten).reread_bytes,
                   16.0 * 3 * 1024 * 512 * 0.5);
  p.params["tokens"] = 64;  // 64 rows per expert: the wgmma grouped GEMM
  kernels::plan::PlanRules copy;
  copy.w4a8_prefill_dequant = kernels::plan::W4a8PrefillDequant::kScratch;
  ASSERT_EQ(profile_variant("prefill_ffn", p, "f", "p", copy), "wgmma");
  EXPECT_EQ(profile_features("prefill_ffn", p, "f", "p").reread_bytes, 0);
  // A simulator shape takes the expected routing: 8 x 17 rows over 8 experts, top-1 of the
  // alike parameters, is Binomial(136, 1/8) rows per expert, about 2.4 m-tiles each.
  QuadrantShape s;
  s.quadrant = Quadrant::kDecodeFfn;
  s.new_tokens = 17;
  s.routed_tokens = 136;
  s.active_experts = 8;
  s.hidden = 1024;
  s.intermediate = 512;
  const kernels::plan::ExpectedRouting er = kernels::plan::expected_routing(136, 1, 8, 16);
  EXPECT_NEAR(core_features(s).reread_bytes, (er.m_tiles - er.active_experts) * 3 * 1024 * 512 * 2,
              1e-6);
  // Attention has none.
  QuadrantShape a;
  a.quadrant = Quadrant::kDecodeAttention;
  a.num_seqs = 4;
  a.new_tokens = 4;
  a.context_tokens = 4096;
  a.heads = 32;
  a.kv_heads = 8;
  a.qk_head_dim = a.v_head_dim = 128;
  EXPECT_EQ(core_features(a).reread_bytes, 0);
}

// Split-K (W4A8's default on the 16-row path): a GEMM's CTAs each stream k / splits of their
// 128-row weight slice, so the busiest slot's bytes are the slots x rounds x a CTA's share of
// k, not of the whole k (a single expert of 6144 x 8192 splits its GEMMs; the plan says how).
TEST(Features, SplitKCtasStreamTheirShareOfK) {
  const kernels::ShapeParams params = {
      {"tokens", 1}, {"experts", 1}, {"top_k", 1}, {"hidden", 6144}, {"intermediate", 8192}};
  // W4A8 (16-row tiles, half-byte weights, E4M3 activations), and BF16 on 32-row tiles
  // (QUADRANT_MOE_BLOCK_M=32; they run unsplit): a CTA streams block_m activation rows with
  // its weight slice.
  for (const auto& [format, block_m] : {std::pair{"w4a8", "16"}, std::pair{"bf16", "32"}}) {
    setenv("QUADRANT_MOE_BLOCK_M", block_m, 1);
    const kernels::plan::LaunchPlan plan =
        kernels::plan::plan_launches("decode_ffn", format, params, 132);
    ASSERT_EQ(plan.choice("block_m"), std::atoi(block_m)) << format;
    int64_t split_gate_up = 0, split_down = 0;
    for (const auto& [name, value] : plan.choices) {
      if (name == "split_k_gate_up") split_gate_up = value;
      if (name == "split_k_down") split_down = value;
    }
    if (format == std::string("w4a8")) {
      ASSERT_GT(std::max(split_gate_up, split_down), 1) << "the plan no longer splits this shape";
    }
    const double w = format == std::string("w4a8") ? 0.5 : 2, a = w == 2 ? 2 : 1;
    double expected = 0;
    for (const kernels::plan::KernelLaunch& l : plan.launches) {
      const bool gate_up = l.kernel.find("(gate/up)") != std::string::npos;
      if (!gate_up && l.kernel.find("(down)") == std::string::npos) continue;
      const double k = gate_up ? 6144.0 / static_cast<double>(std::max<int64_t>(1, split_gate_up))
                               : 8192.0 / static_cast<double>(std::max<int64_t>(1, split_down));
      expected += 132.0 * std::max(1, l.ctas_per_sm) * std::ceil(l.waves - 1e-9) *
                  (kernels::plan::kMoeMmaBlockN * w + std::atoi(block_m) * a) * k;
    }
    ProfileShape p;
    p.format = format;
    for (const auto& [name, value] : params) p.params[name] = value;
    EXPECT_NEAR(profile_features("decode_ffn", p, "f", "p").crit_bytes, expected, 1e-9 * expected)
        << format;
  }
  unsetenv("QUADRANT_MOE_BLOCK_M");
}

// Prefill attention's K/V re-reads that miss the L2 (50 MB, LRU over (sequence, KV head)):
// none where every sequence's K/V fits (a GQA shard: 2 KV heads x 4096 keys x 512 B = 4 MB);
// every re-read where the later tiles of MLA's 64 KV heads of a long prefix thrash it (13 MB
// per head per sequence), i.e. each tile's keys beyond the sequence's first read, per KV head.
TEST(Features, PrefillAttentionRereadsMissTheL2OnlyBeyondIt) {
  ProfileShape p;
  p.format = "bf16";
  p.params = {{"batch", 1}, {"seq_len", 4096}, {"prefix_len", 0},
              {"heads", 8}, {"kv_heads", 2},   {"head_dim", 128}};
  EXPECT_EQ(profile_features("prefill_attention", p, "f", "p").reread_bytes, 0);
  p.params = {{"batch", 2},     {"seq_len", 1024}, {"prefix_len", 20000}, {"heads", 64},
              {"kv_heads", 64}, {"head_dim", 192}, {"v_head_dim", 128}};
  const kernels::ShapeParams params(p.params.begin(), p.params.end());
  const kernels::PrefillAttentionShape a = kernels::parse_prefill_attention(params);
  const kernels::plan::PrefillSchedule sch = kernels::plan::prefill_schedule(
      a.q_lens, a.prefix_lens,
      kernels::plan::prefill_tile_rows(false, kernels::plan::prefill_variant(false, 192, 128)));
  double tile_keys = 0;
  for (int64_t k : sch.tile_keys) tile_keys += static_cast<double>(k);
  ASSERT_GT(sch.tile_keys.size(), 2u);
  EXPECT_NEAR(profile_features("prefill_attention", p, "f", "p").reread_bytes,
              (tile_keys - 2.0 * 21024) * 64 * (192 + 128) * 2, 1.0);
  // In between: one sequence of 16 KV heads x 8192 keys (4 MB each, 67 MB in all) keeps
  // part of its re-reads in the L2: some miss, not all.
  p.params = {{"batch", 1},  {"seq_len", 8192}, {"prefix_len", 0},
              {"heads", 64}, {"kv_heads", 16},  {"head_dim", 128}};
  const kernels::plan::PrefillSchedule one =
      kernels::plan::prefill_schedule({8192}, {0}, sch.tile_rows);
  double one_keys = 0;
  for (int64_t k : one.tile_keys) one_keys += static_cast<double>(k);
  const double partial = profile_features("prefill_attention", p, "f", "p").reread_bytes;
  EXPECT_GT(partial, 0);
  EXPECT_LT(partial, (one_keys - 8192) * 16 * 256 * 2);
}

TEST(Features, PaddedFlopsRoundEachExpertUpToATile) {
  QuadrantShape s;
  s.quadrant = Quadrant::kPrefillFfn;
  s.routed_tokens = 8 * 130;  // 130 rows per expert -> 256 after padding
  s.active_experts = 8;
  s.hidden = 1024;
  s.intermediate = 512;
  Features f = core_features(s);
  EXPECT_DOUBLE_EQ(f.padded_flops / f.flops, 256.0 / 130.0);
}

TEST(Features, UnknownOrMissingParametersNameThePath) {
  ProfileShape p;
  p.format = "bf16";
  p.params = {{"batch", 4},    {"kv_len", 64},   {"heads", 8},
              {"kv_heads", 8}, {"head_dim", 64}, {"colour", 3}};
  try {
    profile_features("decode_attention", p, "x.json", "shapes[2]");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "shapes[2].params.colour");
  }
  p.params.erase("colour");
  p.params.erase("heads");
  try {
    profile_features("decode_attention", p, "x.json", "shapes[2]");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "shapes[2].params.heads");
  }
}

}  // namespace
}  // namespace quadrant::calibration

namespace quadrant::calibration {
namespace {

// The routing replayed on the CPU reaches exactly the experts the profiled op reported: its
// bytes() counts the weights of the experts its routing activated (kernels/src/moe_ffn.cu).
TEST(ProfiledActiveExperts, MatchTheBytesEveryCommittedH200FfnShapeReported) {
  int checked = 0, below_all = 0;
  for (const char* dir : {"calibration/profiles/H200", "calibration/profiles/H200-validation",
                          "calibration/profiles/H200-active2"})
    for (const char* op : {"decode_ffn", "prefill_ffn"}) {
      const std::string file = std::string(dir) + "/" + op + ".json";
      if (!std::filesystem::exists(file)) continue;
      const Profile p = read_profile(file);
      for (const ProfileShape& s : p.shapes) {
        const double h = s.params.at("hidden"), i = s.params.at("intermediate");
        const double t = s.params.at("tokens"), e = s.params.at("experts");
        const double per = s.format == "bf16" ? 2.0 : s.format == "fp8" ? 1.0 : 0.5;
        const double active = (s.bytes - 4.0 * t * h) / (3.0 * h * i * per);
        const int replayed = profiled_active_experts(s.params.at("tokens"), s.params.at("experts"),
                                                     s.params.at("top_k"));
        ASSERT_NEAR(active, replayed, 1e-6) << file << " " << shape_key(s);
        below_all += replayed < e;
        ++checked;
      }
    }
  EXPECT_GT(checked, 500);
  EXPECT_GT(below_all, 50);  // the shapes where the replay matters
}

// W4A8 on wgmma is two kernel pipelines, told apart by the plan rules: the E4M3 copy then the
// GEMM ("wgmma"), or the GEMM dequantising in its producer ("wgmma-int4"), by_rows taking the
// producer from 4 experts up to 256 rows per expert.
TEST(Features, W4a8WgmmaVariantFollowsTheDequantRule) {
  namespace kp = kernels::plan;
  ProfileShape p;
  p.format = "w4a8";
  p.params = {
      {"experts", 8}, {"top_k", 8}, {"hidden", 1024}, {"intermediate", 512}, {"tokens", 64}};
  kp::PlanRules rules;
  rules.w4a8_prefill_dequant = kp::W4a8PrefillDequant::kByRows;
  EXPECT_EQ(profile_variant("prefill_ffn", p, "f", "p", rules), "wgmma-int4");
  p.params["tokens"] = 257;  // 257 rows per expert: the copy
  EXPECT_EQ(profile_variant("prefill_ffn", p, "f", "p", rules), "wgmma");
  p.params["tokens"] = 64;
  p.params["experts"] = 3;
  p.params["top_k"] = 3;  // three experts: the copy
  EXPECT_EQ(profile_variant("decode_ffn", p, "f", "p", rules), "wgmma");
  rules.w4a8_prefill_dequant = kp::W4a8PrefillDequant::kProducer;
  EXPECT_EQ(profile_variant("decode_ffn", p, "f", "p", rules), "wgmma-int4");
  p.format = "fp8";  // only W4A8 dequantises
  EXPECT_EQ(profile_variant("decode_ffn", p, "f", "p", rules), "wgmma");
  p.format = "w4a8";
  rules.w4a8_prefill_dequant = kp::W4a8PrefillDequant::kScratch;
  EXPECT_EQ(profile_variant("decode_ffn", p, "f", "p", rules), "wgmma");
  p.params["tokens"] = 8;  // 8 rows per expert: mma.sync, whatever the rule
  rules.w4a8_prefill_dequant = kp::W4a8PrefillDequant::kProducer;
  EXPECT_EQ(profile_variant("decode_ffn", p, "f", "p", rules), "mma16");
}

// The model tells W4A8's two wgmma pipelines apart as the kernels choose between them: on every
// committed H200 W4A8 FFN shape on the wgmma path, "wgmma-int4" exactly where the kernels' own
// launch plan dequantises in the producer, under the default rules and under each value.
TEST(Features, W4a8WgmmaVariantIsTheKernelsChoiceOnEveryCommittedShape) {
  namespace kp = kernels::plan;
  int producer = 0, copy = 0;
  for (const kp::W4a8PrefillDequant d :
       {kp::kMoeW4PrefillDequant, kp::W4a8PrefillDequant::kScratch,
        kp::W4a8PrefillDequant::kProducer, kp::W4a8PrefillDequant::kByRows}) {
    kp::PlanOptions options;
    options.rules.w4a8_prefill_dequant = d;
    const kp::PlanRules& rules = options.rules;
    for (const char* dir : {"calibration/profiles/H200", "calibration/profiles/H200-validation2",
                            "calibration/profiles/H200-active3"})
      for (const char* op : {"decode_ffn", "prefill_ffn"}) {
        const std::string file = std::string(dir) + "/" + op + ".json";
        ASSERT_TRUE(std::filesystem::exists(file)) << "run from the repository root";
        const Profile p = read_profile(file);
        for (size_t i = 0; i < p.shapes.size(); ++i) {
          const ProfileShape& s = p.shapes[i];
          if (s.format != "w4a8") continue;
          const std::string variant = profile_variant(op, s, file, "shapes", rules);
          if (variant == "mma16") continue;
          const kp::LaunchPlan plan = kp::plan_launches(
              op, "w4a8", kernels::ShapeParams(s.params.begin(), s.params.end()), 132, options);
          bool in_producer = false;
          for (const auto& [name, value] : plan.choices)
            in_producer |= name == "w4a8_prefill_dequant_in_producer" && value == 1;
          EXPECT_EQ(variant == "wgmma-int4", in_producer) << file << " " << shape_key(s);
          (in_producer ? producer : copy) += 1;
        }
      }
  }
  EXPECT_GT(producer, 100);
  EXPECT_GT(copy, 100);
}

}  // namespace
}  // namespace quadrant::calibration
