// The kernels' path choices, pinned (issue 14: "path choices in one dispatch file with a
// table test"). The .cu launchers call these same functions, so a change of a choice shows
// here first, with the numbers worked out by hand in the comments.
#include "kernels/plan/dispatch.h"
#include "kernels/plan/split_kv.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace quadrant::kernels::plan {
namespace {

struct DecodeRow {
  int64_t batch;
  int heads, kv_heads, head_dim;
  bool fp8;
  int64_t max_kv_len;
  int sms;
  DecodeSplit want;
};

TEST(DecodeAttentionSplit, Table) {
  // The hedged cost model of dispatch.h (equal lengths 0.7, lengths spread below the bound
  // 0.3). BF16 on tensor cores holds 2 CTAs per SM, E4M3 3: 264 / 396 slots on 132 SMs.
  const std::vector<DecodeRow> rows = {
      // 512 CTAs per split on 264 slots. Equal lengths: one split, 2 waves x (4096 x 512 B +
      // 192 KB) = 4,587,520; two: 4 waves x (2048 x 512 B + 192 KB) = 4,980,736 + combine.
      // Spread: one split max(W / S, C) + C / 2 = 2,414,902 + 1,146,880 = 3,561,782, two
      // 2,605,552 + 622,592 + 48,780 (combine) = 3,276,924: 9% better spread, 10% worse
      // equal, and equal weighs 0.7. One split, no combine.
      {64, 32, 8, 128, false, 4096, 132, {4, 4096, 1, true}},
      // The same batch at a bound of 8192: the spread case's tail (half a chunk) tips it to 2.
      {64, 32, 8, 128, false, 8192, 132, {4, 4096, 2, true}},
      // Qwen3-30B-A3B as quadrant-engine serves it (32/4 heads, the graph's bound 8192): 4
      // splits at batch 32 and 112, 2 at 64 and 96, where, with lengths 1000..6400, 4 measured
      // 0.166 / 0.219 ms against 2's 0.189 / 0.262 (results/engine_run1_attn.csv): the wave
      // quantisation of the equal-lengths case (256 CTAs per split at batch 64 fill 264 slots).
      {32, 32, 4, 128, false, 8192, 132, {8, 2048, 4, true}},
      {64, 32, 4, 128, false, 8192, 132, {8, 4096, 2, true}},
      {96, 32, 4, 128, false, 8192, 132, {8, 4096, 2, true}},
      {112, 32, 4, 128, false, 8192, 132, {8, 2048, 4, true}},
      // Qwen3-30B-A3B at batch 16 (8 heads per CTA, 64 CTAs per split): 4 splits of 1024, one
      // wave of 256 CTAs on 264 slots.
      {16, 32, 4, 128, false, 4096, 132, {8, 1024, 4, true}},
      // The same in E4M3 (396 slots): 6 splits of 704 (384 CTAs, one wave).
      {16, 32, 4, 128, true, 4096, 132, {8, 704, 6, true}},
      // One sequence, E4M3: 8 CTAs per split: the most splits that stay in one wave: 47 of
      // 704 tokens (376 CTAs; 52 splits of 640 would take 416 > 396).
      {1, 32, 8, 128, true, 32768, 132, {4, 704, 47, true}},
      // GQA 16: 8 heads per CTA, 64 CTAs on 264 slots: 4 splits of 256 tokens fill one wave.
      {8, 64, 4, 128, false, 1000, 132, {8, 256, 4, true}},
      // MHA, E4M3 at head dim 64: CUDA cores, 1 head per CTA, 3 per SM: 1024 CTAs on 396
      // slots are 2.6 waves already: one split.
      {64, 16, 16, 64, true, 8192, 132, {1, 8192, 1, false}},
      // 78 SMs (H20), E4M3: 32 CTAs per split on 234 slots: 7 splits of 2368 (224 CTAs).
      {4, 32, 8, 128, true, 16384, 78, {4, 2368, 7, true}},
  };
  for (const DecodeRow& r : rows) {
    const DecodeSplit s = decode_attention_split(r.batch, r.heads, r.kv_heads, r.head_dim, r.fp8,
                                                 r.max_kv_len, r.sms);
    EXPECT_EQ(s.heads_per_cta, r.want.heads_per_cta) << r.batch << " " << r.max_kv_len;
    EXPECT_EQ(s.chunk, r.want.chunk) << r.batch << " " << r.max_kv_len;
    EXPECT_EQ(s.max_splits, r.want.max_splits) << r.batch << " " << r.max_kv_len;
    EXPECT_EQ(s.tensor_cores, r.want.tensor_cores) << r.batch << " " << r.max_kv_len;
  }
  EXPECT_FALSE(decode_attention_split(1, 8, 1, 128, true, 100, 132, false).tensor_cores);
  // A forced count: 5 splits of 4096 -> ceil(819.2) rounded up to 64 = 832 tokens.
  const DecodeSplit forced = decode_attention_split(64, 32, 8, 128, false, 4096, 132, true, 5);
  EXPECT_EQ(forced.chunk, 832);
  EXPECT_EQ(forced.max_splits, 5);
  // No split is longer than the sequence needs, and every split count keeps the chunk a
  // multiple of the 64-token granule.
  for (int n = 1; n <= 40; ++n) {
    const DecodeSplit f = decode_attention_split(3, 8, 2, 128, true, 1000, 132, true, n);
    EXPECT_EQ(f.chunk % kDecodeGranule, 0) << n;
    EXPECT_GE(int64_t(f.chunk) * f.max_splits, 1000) << n;
    EXPECT_LT(int64_t(f.chunk) * (f.max_splits - 1), 1000) << n;
  }
}

// A sequence's own chunk (decode_seq_chunk): near-equal pieces, each a multiple of the
// granule, no more than max_splits of them, none empty, covering the sequence.
TEST(DecodeAttentionSplit, SequenceChunks) {
  // The default: balanced chunks of at least the bound's chunk, or the bound's fixed chunk.
  const DecodeSplit d = decode_attention_split(64, 32, 4, 128, false, 8192, 132, true, 2);
  EXPECT_EQ(d.min_chunk, kDecodeBalancedChunks ? 4096 : -4096);
  EXPECT_EQ(decode_seq_chunk(6400, -4096, 2), 4096);  // fixed: 4096 + 2304
  EXPECT_EQ(decode_seq_splits(6400, -4096, 2), 2);
  EXPECT_EQ(decode_seq_splits(1000, -4096, 2), 1);
  // Balanced at the bound's chunk (min_chunk = chunk): 6400 tokens under a bound of 8192 in
  // 2 splits of 4096 are 2 x 3200, not 4096 + 2304; 1000 tokens stay one split.
  const DecodeSplit s = decode_attention_split(64, 32, 4, 128, false, 8192, 132, true, 2, 4096);
  EXPECT_EQ(s.chunk, 4096);
  EXPECT_EQ(s.min_chunk, 4096);
  EXPECT_EQ(decode_seq_chunk(6400, s.min_chunk, s.max_splits), 3200);
  EXPECT_EQ(decode_seq_splits(6400, s.min_chunk, s.max_splits), 2);
  EXPECT_EQ(decode_seq_chunk(1000, s.min_chunk, s.max_splits), 1024);
  EXPECT_EQ(decode_seq_splits(1000, s.min_chunk, s.max_splits), 1);
  EXPECT_EQ(decode_seq_chunk(8192, s.min_chunk, s.max_splits), 4096);  // the bound: as before
  EXPECT_EQ(decode_seq_splits(0, s.min_chunk, s.max_splits), 0);
  // min_chunk 512: 1000 tokens in 2 splits of 512 (then 488), 6400 in max_splits = 2.
  const DecodeSplit m = decode_attention_split(64, 32, 4, 128, false, 8192, 132, true, 2, 512);
  EXPECT_EQ(m.min_chunk, 512);
  EXPECT_EQ(decode_seq_splits(1000, m.min_chunk, m.max_splits), 2);
  EXPECT_EQ(decode_seq_chunk(1000, m.min_chunk, m.max_splits), 512);
  EXPECT_EQ(decode_seq_splits(6400, m.min_chunk, m.max_splits), 2);
  // min_chunk is at least the granule and at most the chunk.
  EXPECT_EQ(decode_attention_split(4, 8, 2, 128, true, 1000, 132, true, 3, 1).min_chunk,
            kDecodeGranule);
  EXPECT_EQ(decode_attention_split(4, 8, 2, 128, true, 1000, 132, true, 3, 5000).min_chunk,
            decode_attention_split(4, 8, 2, 128, true, 1000, 132, true, 3).chunk);
  for (int n : {1, 2, 3, 5, 8, 13})
    for (int mc : {0, 64, 200, 512, 4096}) {
      const DecodeSplit f = decode_attention_split(3, 8, 2, 128, true, 5000, 132, true, n, mc);
      for (int len = 1; len <= 5000; len += 37) {
        const int c = decode_seq_chunk(len, f.min_chunk, f.max_splits);
        const int k = decode_seq_splits(len, f.min_chunk, f.max_splits);
        ASSERT_EQ(c % kDecodeGranule, 0) << n << " " << mc << " " << len;
        ASSERT_GE(k, 1);
        ASSERT_LE(k, f.max_splits) << n << " " << mc << " " << len;
        ASSERT_LE(c, f.chunk) << n << " " << mc << " " << len;
        ASSERT_GE(int64_t(c) * k, len);
        ASSERT_LT(int64_t(c) * (k - 1), len);  // no empty split
      }
    }
}

TEST(DecodeAttentionSplit, RejectsShapesNoKernelTakes) {
  EXPECT_THROW(decode_attention_split(1, 12, 4, 128, false, 10, 132), std::invalid_argument);
  EXPECT_THROW(decode_attention_split(1, 8, 8, 96, false, 10, 132), std::invalid_argument);
  EXPECT_THROW(decode_attention_split(1, 8, 8, 128, false, 0, 132), std::invalid_argument);
  EXPECT_THROW(decode_attention_split(1, 8, 8, 128, false, 10, 132, true, -1),
               std::invalid_argument);
  EXPECT_THROW(decode_attention_split(1, 8, 8, 128, false, 10, 132, true, 0, -1),
               std::invalid_argument);
}

// The fluid model's launch time in closed forms: one CTA alone streams at its own rate; CTAs
// that together ask more than the bandwidth share it; one slot runs them one after another;
// more than one split adds the combine's terms.
TEST(FluidSplitTime, ClosedForms) {
  FluidSplitCosts k;
  k.groups = 1;
  k.token_bytes = 512;
  k.cta_us = 2;
  k.cta_rate = 1000;
  k.bandwidth = 8000;
  k.combine_us = 5;
  k.combine_us_per_split = 0.5;
  k.slots = 64;
  EXPECT_DOUBLE_EQ(fluid_split_time({4096}, 4096, k), 2 + 4096.0 * 512 / 1000);
  // 32 CTAs of 1024 tokens at once: 32 x 1000 asks more than 8000, so they share it.
  k.groups = 32;
  EXPECT_NEAR(fluid_split_time({1024}, 1024, k), 2 + 32 * 1024.0 * 512 / 8000, 1e-9);
  // One slot: 32 CTAs in turn, each alone at its own rate.
  k.slots = 1;
  EXPECT_NEAR(fluid_split_time({1024}, 1024, k), 32 * (2 + 1024.0 * 512 / 1000), 1e-6);
  // Four splits of one sequence on four slots: one CTA's time plus the combine's.
  k.groups = 1;
  k.slots = 4;
  EXPECT_NEAR(fluid_split_time({4096}, 1024, k), 2 + 1024.0 * 512 / 1000 + 5 + 0.5 * 4, 1e-9);
  // An empty sequence adds nothing.
  EXPECT_DOUBLE_EQ(fluid_split_time({4096, 0}, 4096, k), fluid_split_time({4096}, 4096, k));
}

// The fluid chooser (QUADRANT_DECODE_ATTN_SPLIT_MODEL=fluid) at the 10 standard rows on 132
// SMs: the split counts the H200 sweep of sixth session measured at or near the best (PERF.md);
// the byte model's beside it; a bad model name is an error.
TEST(DecodeAttentionSplit, FluidChooserTable) {
  struct Row {
    int64_t batch, bound;
    int kv_heads;
    bool fp8;
    int bytes, fluid;
  };
  const Row rows[] = {{64, 4096, 8, false, 1, 1}, {64, 8192, 8, false, 2, 5},
                      {16, 4096, 4, false, 4, 4}, {16, 2048, 8, false, 2, 1},
                      {16, 8192, 4, false, 8, 4}, {64, 4096, 8, true, 2, 3},
                      {64, 8192, 8, true, 3, 6},  {16, 4096, 4, true, 6, 6},
                      {16, 2048, 8, true, 3, 3},  {16, 8192, 4, true, 6, 6}};
  for (const Row& r : rows) {
    setenv("QUADRANT_DECODE_ATTN_SPLIT_MODEL", "bytes", 1);
    EXPECT_EQ(decode_attention_split(r.batch, 32, r.kv_heads, 128, r.fp8, r.bound, 132).max_splits,
              r.bytes)
        << r.batch << " " << r.bound << " " << r.fp8;
    setenv("QUADRANT_DECODE_ATTN_SPLIT_MODEL", "fluid", 1);
    EXPECT_EQ(decode_attention_split(r.batch, 32, r.kv_heads, 128, r.fp8, r.bound, 132).max_splits,
              r.fluid)
        << r.batch << " " << r.bound << " " << r.fp8;
    // Forced counts and the CUDA-core kernel keep their own rules.
    EXPECT_EQ(decode_attention_split(r.batch, 32, r.kv_heads, 128, r.fp8, r.bound, 132, true, 3)
                  .max_splits,
              3);
    // A named chooser (a cost model's plan rules) is the one taken, whatever the environment
    // says (here: fluid).
    for (const auto& [model, want] : {std::pair{DecodeSplitModel::kBytes, r.bytes},
                                      std::pair{DecodeSplitModel::kFluid, r.fluid}})
      EXPECT_EQ(decode_attention_split(r.batch, 32, r.kv_heads, 128, r.fp8, r.bound, 132, true, 0,
                                       0, model)
                    .max_splits,
                want)
          << r.batch << " " << r.bound << " " << r.fp8;
  }
  setenv("QUADRANT_DECODE_ATTN_SPLIT_MODEL", "flud", 1);
  EXPECT_THROW(decode_attention_split(16, 32, 4, 128, false, 4096, 132), std::invalid_argument);
  unsetenv("QUADRANT_DECODE_ATTN_SPLIT_MODEL");
  EXPECT_FALSE(decode_split_model_fluid());
}

// QUADRANT_DECODE_ATTN_SPLIT_SLOTS=resident sizes the CUDA-core kernel's split count for the CTAs
// its registers let reside (decode_split_ctas_per_sm: head dim 256, 1 / 2 heads per CTA: 6 / 4
// BF16, 5 / 4 E4M3 per SM) instead of its launch bound (3): the byte model with those slots; the
// tensor-core kernel (head dim 128) and 4+ heads per CTA keep the bound's choice. More slots
// mostly mean more splits (16 heads of 256 on 16 KV heads at batch 16: 3 -> 6), not always
// (E4M3 at batch 64, 8192, 16 on 8 KV heads: 3 -> 2, 1024 CTAs in 528 slots against 1536 in
// 396); one sequence of one head takes the most splits either way.
TEST(DecodeAttentionSplit, ResidentSlotsAtHeadDim256) {
  struct Row {
    int64_t batch, bound;
    int heads, kv_heads, head_dim;
    bool fp8;
    int bound_splits, resident_splits;
  };
  const Row rows[] = {{1, 8192, 1, 1, 256, false, 128, 128}, {4, 8192, 16, 8, 256, false, 12, 16},
                      {16, 4096, 16, 8, 256, false, 6, 8},   {16, 4096, 16, 16, 256, false, 3, 6},
                      {64, 2048, 4, 4, 256, false, 3, 3},    {1, 32768, 1, 1, 256, true, 256, 256},
                      {16, 8192, 16, 8, 256, true, 6, 8},    {64, 8192, 16, 8, 256, true, 3, 2},
                      {16, 4096, 32, 8, 256, false, 6, 6},   {16, 4096, 32, 8, 128, false, 4, 4}};
  for (const Row& r : rows) {
    const auto splits = [&](const char* rule) {
      setenv("QUADRANT_DECODE_ATTN_SPLIT_SLOTS", rule, 1);
      return decode_attention_split(r.batch, r.heads, r.kv_heads, r.head_dim, r.fp8, r.bound, 132)
          .max_splits;
    };
    EXPECT_EQ(splits("bound"), r.bound_splits);
    EXPECT_EQ(splits(""), r.bound_splits);
    EXPECT_EQ(splits("resident"), r.resident_splits);
  }
  setenv("QUADRANT_DECODE_ATTN_SPLIT_SLOTS", "resdent", 1);
  EXPECT_THROW(decode_attention_split(16, 16, 8, 256, false, 4096, 132), std::invalid_argument);
  unsetenv("QUADRANT_DECODE_ATTN_SPLIT_SLOTS");
  EXPECT_FALSE(decode_split_slots_resident());
}

TEST(PrefillAttentionPath, Table) {
  struct Row {
    bool fp8;
    int dqk, dv, requested, variant, tile_rows, threads;
  };
  const std::vector<Row> rows = {
      {false, 128, 128, kDefaultVariant, 2, 128, 384},  // BF16 ping-pong
      {false, 64, 64, kDefaultVariant, 2, 128, 384},
      {false, 192, 128, kDefaultVariant, 2, 128, 384},  // MLA on wgmma
      {true, 128, 128, kDefaultVariant, 4, 192, 512},   // FP8: three consumer warpgroups
      {true, 64, 64, kDefaultVariant, -1, 64, 128},     // FP8 d64: mma.sync
      {true, 192, 128, kDefaultVariant, -1, 64, 128},   // FP8 MLA: mma.sync
      {false, 128, 128, -1, -1, 64, 128},
      {true, 128, 128, 5, 5, 192, 512},
      {true, 128, 128, 7, 7, 128, 384},
      {true, 128, 128, 8, 8, 192, 512},  // FP8, part of ex2 on the FMA pipes
      {true, 128, 128, 9, 9, 192, 512},
      {true, 128, 128, 10, 10, 192, 512},  // FP8, softmax in turns
  };
  for (const Row& r : rows) {
    const int v = prefill_variant(r.fp8, r.dqk, r.dv, r.requested);
    EXPECT_EQ(v, r.variant) << r.fp8 << " " << r.dqk << " " << r.requested;
    EXPECT_EQ(prefill_tile_rows(r.fp8, v), r.tile_rows) << r.fp8 << " " << r.dqk;
    EXPECT_EQ(prefill_threads(r.fp8, v), r.threads) << r.fp8 << " " << r.dqk;
  }
  EXPECT_THROW(prefill_variant(false, 128, 128, 4), std::invalid_argument);
  EXPECT_THROW(prefill_variant(false, 128, 128, 8), std::invalid_argument);
  EXPECT_THROW(prefill_variant(true, 128, 128, 11), std::invalid_argument);
  // Each variant's loop mode and name, one table for the plans, the op and the launcher.
  EXPECT_EQ(prefill_mode(2), 2);   // BF16 ping-pong
  EXPECT_EQ(prefill_mode(4), 0);   // FP8 default: the serial loop, three warpgroups
  EXPECT_EQ(prefill_mode(7), 4);   // P.V not waited for
  EXPECT_EQ(prefill_mode(10), 8);  // softmax in turns
  EXPECT_STREQ(prefill_variant_suffix(kPrefillMmaVariant), "_mma");
  EXPECT_STREQ(prefill_variant_suffix(4), "_wgmma_3wg_serial");
  EXPECT_STREQ(prefill_variant_suffix(10), "_wgmma_3wg_turns");
  EXPECT_THROW(prefill_mode(-1), std::invalid_argument);
  EXPECT_THROW(prefill_variant_suffix(11), std::invalid_argument);
  EXPECT_THROW(prefill_variant(false, 128, 128, 10), std::invalid_argument);
}

TEST(PrefillSchedule, HeaviestTilesFirstAndOffsets) {
  // Sequence 0: 300 new tokens, no prefix; sequence 1: one token after 77 cached.
  const PrefillSchedule s = prefill_schedule({300, 1}, {0, 77}, 128);
  // Tiles by their last key bound: (0, 256) 384, (0, 128) 256, (1, 0) 205, (0, 0) 128.
  EXPECT_EQ(s.tile_seq, (std::vector<int32_t>{0, 0, 1, 0}));
  EXPECT_EQ(s.tile_q0, (std::vector<int32_t>{256, 128, 0, 0}));
  EXPECT_EQ(s.tile_keys, (std::vector<int64_t>{300, 256, 78, 128}));
  EXPECT_EQ(s.cu_q, (std::vector<int32_t>{0, 300, 301}));
  EXPECT_EQ(s.cu_k, (std::vector<int32_t>{0, 300, 378}));
  EXPECT_EQ(s.prefix, (std::vector<int32_t>{0, 77}));
  EXPECT_EQ(s.cu_sq, (std::vector<int32_t>{0, 5, 6}));  // ceil(300 / 64), ceil(1 / 64)
  EXPECT_EQ(s.cu_sk, (std::vector<int32_t>{0, 5, 7}));  // ceil(78 / 64) = 2
  EXPECT_EQ(s.cu_kt, (std::vector<int32_t>{0, 384, 512}));
  EXPECT_EQ(s.kt_seq, (std::vector<int32_t>{0, 0, 0, 1}));
  EXPECT_EQ(s.causal_pairs, 300 * 301 / 2 + 78);
  EXPECT_THROW(prefill_schedule({0}, {0}, 128), std::invalid_argument);
  EXPECT_THROW(prefill_schedule({4, 4}, {0}, 128), std::invalid_argument);
}

TEST(MoeRouting, OneCtaUpToTheSlotLimit) {
  // The one-CTA routing kernel up to kMoeFusedRouteMaxSlots (token, expert) slots.
  for (const auto& [tokens, top_k] :
       std::vector<std::pair<int64_t, int>>{{1, 8}, {32, 8}, {33, 8}, {64, 8}, {128, 2}, {512, 8}})
    EXPECT_EQ(moe_fused_route(tokens, top_k), tokens * top_k <= kMoeFusedRouteMaxSlots)
        << tokens << " x " << top_k;
  EXPECT_FALSE(moe_fused_route(4096, 8));  // never at prefill sizes
  // On up to 32 tokens at top-8 (0.6-4.4% faster on the H200), off from 384 slots (slower).
  EXPECT_TRUE(moe_fused_route(32, 8));
  EXPECT_FALSE(moe_fused_route(48, 8));
}

// The chain of programmatic dependent launches: the default for every format (W4A8 since
// split-K, with which it is faster on the H200); QUADRANT_MOE_PDL overrides it for every format.
TEST(MoeChain, OnByDefaultForEveryFormat) {
  unsetenv("QUADRANT_MOE_PDL");
  EXPECT_TRUE(moe_pdl(false));
  EXPECT_TRUE(moe_pdl(true));
  for (const char* v : {"0", "1"}) {
    setenv("QUADRANT_MOE_PDL", v, 1);
    EXPECT_EQ(moe_pdl(false), std::string(v) == "1");
    EXPECT_EQ(moe_pdl(true), std::string(v) == "1");
  }
  setenv("QUADRANT_MOE_PDL", "yes", 1);
  EXPECT_THROW(moe_pdl(false), std::invalid_argument);
  unsetenv("QUADRANT_MOE_PDL");
}

TEST(MoeGemmPath, CrossoverAt48RowsPerExpert) {
  EXPECT_EQ(moe_gemm_path(192, 2, 8), MoeGemmPath::kWgmma);  // 384 rows = 48 x 8
  EXPECT_EQ(moe_gemm_path(191, 2, 8), MoeGemmPath::kMmaSync);
  EXPECT_EQ(moe_gemm_path(64, 8, 128), MoeGemmPath::kMmaSync);  // Qwen3-30B-A3B decode
  EXPECT_EQ(moe_gemm_path(8192, 8, 128), MoeGemmPath::kWgmma);  // and prefill
  EXPECT_EQ(moe_gemm_path(8192, 8, 128, true), MoeGemmPath::kCublasLt);
  EXPECT_EQ(moe_block_m(MoeGemmPath::kWgmma, 8192, 8, 128), 128);
  EXPECT_EQ(moe_block_m(MoeGemmPath::kMmaSync, 64, 8, 128), 16);
  EXPECT_EQ(moe_max_tiles(384, 128, 8), 3 + 8);
}

// The BF16 / FP8 mma.sync GEMMs' rows per tile (QUADRANT_MOE_BLOCK_M) and stages
// (QUADRANT_MOE_STAGES), for both formats or each: block_m 16 by default; 32 when set (W4A8
// keeps 16); "auto" 32 from 12 rows per expert on average; 32-row tiles run unsplit; stages
// 3 .. 6; anything else is an error.
TEST(MoeBlockM, SixteenThirtyTwoOrByRowsPerExpertAndTheStages) {
  unsetenv("QUADRANT_MOE_BLOCK_M");
  EXPECT_EQ(moe_mma_block_m_setting(true), kMoeMmaBlockMBf16);
  EXPECT_EQ(moe_mma_block_m_setting(false), kMoeMmaBlockMFp8);
  const int a = kMoeMmaBlockMAuto;
  EXPECT_EQ(moe_mma_block_m(512, 32, 0, 16), 16);
  EXPECT_EQ(moe_mma_block_m(512, 32, 0, 32), 32);
  for (int form = 1; form < kMoeW4WgTilesForm; ++form)
    EXPECT_EQ(moe_mma_block_m(512, 32, form, 32), 16) << form;  // W4A8 keeps 16
  // but form 14, which takes the auto rule whatever the setting
  EXPECT_EQ(moe_mma_block_m(384, 32, kMoeW4WgTilesForm, 16), 32);
  EXPECT_EQ(moe_mma_block_m(383, 32, kMoeW4WgTilesForm, 32), 16);
  EXPECT_EQ(moe_mma_block_m(384, 32, 0, a), 32);  // 12 rows per expert
  EXPECT_EQ(moe_mma_block_m(383, 32, 0, a), 16);
  EXPECT_EQ(moe_mma_block_m(128, 32, 0, a), 16);  // 16 tokens top-8
  setenv("QUADRANT_MOE_BLOCK_M", "32", 1);
  EXPECT_EQ(moe_mma_block_m_setting(true), 32);
  EXPECT_EQ(moe_block_m(MoeGemmPath::kMmaSync, 64, 8, 32), 32);
  EXPECT_EQ(moe_block_m(MoeGemmPath::kMmaSync, 64, 8, 32, false, 8), 16);
  EXPECT_EQ(moe_block_m(MoeGemmPath::kWgmma, 8192, 8, 128), 128);
  EXPECT_EQ(moe_split_k(8, 32, 4096, 7168, false, 8, 132),  // W4A8 as before
            kMoeSplitKW4a8 == kMoeSplitKAuto ? 2 : 0);
  setenv("QUADRANT_MOE_SPLIT_K", "auto", 1);
  EXPECT_EQ(moe_split_k(1, 32, 4096, 7168, false, 0, 132), 0);  // 32-row tiles: unsplit
  setenv("QUADRANT_MOE_BLOCK_M", "auto", 1);
  EXPECT_EQ(moe_mma_block_m_setting(false), a);
  EXPECT_EQ(moe_split_k(1, 32, 4096, 7168, false, 0, 132), 8);  // 1 row: 16-row tiles, split
  unsetenv("QUADRANT_MOE_SPLIT_K");
  setenv("QUADRANT_MOE_BLOCK_M", "auto,16", 1);  // per format: BF16's, FP8's
  EXPECT_EQ(moe_mma_block_m_setting(true), a);
  EXPECT_EQ(moe_mma_block_m_setting(false), 16);
  for (const char* bad : {"48", "0", "x", "16x", "16,", "16,48"}) {
    setenv("QUADRANT_MOE_BLOCK_M", bad, 1);
    EXPECT_THROW(moe_mma_block_m_setting(false), std::invalid_argument) << bad;
  }
  unsetenv("QUADRANT_MOE_BLOCK_M");
  unsetenv("QUADRANT_MOE_STAGES");
  EXPECT_EQ(moe_mma_stages(true), kMoeMmaStagesBf16);
  EXPECT_EQ(moe_mma_stages(false), kMoeMmaStagesFp8);
  setenv("QUADRANT_MOE_STAGES", "5", 1);
  EXPECT_EQ(moe_mma_stages(true), 5);
  EXPECT_EQ(moe_mma_stages(false), 5);
  setenv("QUADRANT_MOE_STAGES", "3,6", 1);
  EXPECT_EQ(moe_mma_stages(true), 3);
  EXPECT_EQ(moe_mma_stages(false), 6);
  for (const char* bad : {"2", "7", "x", "3,", "4,7"}) {
    setenv("QUADRANT_MOE_STAGES", bad, 1);
    EXPECT_THROW(moe_mma_stages(false), std::invalid_argument) << bad;
  }
  unsetenv("QUADRANT_MOE_STAGES");
}

// Split-K of the mma.sync decode GEMMs (moe_split_k): the rule fills one wave of the kernel's
// slots, worked out by hand for 32 experts top-8, hidden 7168, intermediate 2048 on 132 SMs.
TEST(MoeSplitK, OneWaveOfTheKernelsSlots) {
  EXPECT_EQ(moe_mma_ctas_per_sm(true, 0), 3);   // BF16: 75 -> 80 registers x 256 threads
  EXPECT_EQ(moe_mma_ctas_per_sm(false, 0), 2);  // FP8: 122 -> 128
  EXPECT_EQ(moe_mma_ctas_per_sm(false, 8), 4);
  EXPECT_EQ(moe_mma_ctas_per_sm(false, 7), 3);
  EXPECT_EQ(moe_mma_ctas_per_sm(false, 6), 2);
  EXPECT_EQ(moe_mma_ctas_per_sm(true, 0, 5), 2);  // BF16, 5 stages of 18 KB: by shared memory
  EXPECT_EQ(moe_mma_ctas_per_sm(false, 0, 6), 2);
  const int a = kMoeSplitKAuto;
  // 1 token: gate/up 32 n blocks x 8 m-tiles = 256 CTAs; W4A8 form 8 has 4 x 132 = 528 slots:
  // 2 splits (3 x 256 > 528); down 56 x 8 = 448 CTAs: none. FP8 (264 slots), BF16 (396): none.
  EXPECT_EQ(moe_split_k(8, 32, 4096, 7168, false, 8, 132, a), 2);
  EXPECT_EQ(moe_split_k(8, 32, 7168, 2048, false, 8, 132, a), 0);
  EXPECT_EQ(moe_split_k(8, 32, 4096, 7168, false, 0, 132, a), 0);
  EXPECT_EQ(moe_split_k(8, 32, 4096, 7168, true, 0, 132, a), 0);
  // One row (top-1): 32 CTAs; FP8 264 slots -> 8 splits (256 <= 264), 7 k blocks each at least 4.
  EXPECT_EQ(moe_split_k(1, 32, 4096, 7168, false, 0, 132, a), 8);
  // k = 1024: 8 k blocks, at least 4 per split -> 2 splits at most.
  EXPECT_EQ(moe_split_k(1, 32, 4096, 1024, false, 0, 132, a), 2);
  // 8 tokens: 32 n blocks x min(64 rows, 4 + 32 tiles) = 1152 CTAs: none.
  EXPECT_EQ(moe_split_k(64, 32, 4096, 7168, false, 8, 132, a), 0);
  // Fixed counts: N splits, at most one per k block; 0 none; forms 1, 4, 5 never.
  EXPECT_EQ(moe_split_k(512, 32, 4096, 7168, false, 0, 132, 3), 3);
  EXPECT_EQ(moe_split_k(8, 32, 4096, 256, false, 8, 132, 8), 2);
  EXPECT_EQ(moe_split_k(8, 32, 4096, 7168, false, 8, 132, 0), 0);
  for (int form : {1, 4, 5}) {
    EXPECT_EQ(moe_split_k(8, 32, 4096, 7168, false, form, 132, 2), 0) << form;
    EXPECT_EQ(moe_split_k(8, 32, 4096, 7168, false, form, 132, a), 0) << form;
  }
}

TEST(MoeSplitK, TheEnvironmentSetsIt) {
  unsetenv("QUADRANT_MOE_SPLIT_K");
  // The slots follow the BF16 / FP8 stages (QUADRANT_MOE_STAGES): 2 rows of BF16, 64 CTAs:
  // 3 stages 396 slots -> 6 splits, 5 stages 264 -> 4.
  unsetenv("QUADRANT_MOE_STAGES");
  EXPECT_EQ(moe_split_k(2, 32, 4096, 7168, true, 0, 132, kMoeSplitKAuto), 6);
  setenv("QUADRANT_MOE_STAGES", "5", 1);
  EXPECT_EQ(moe_split_k(2, 32, 4096, 7168, true, 0, 132, kMoeSplitKAuto), 4);
  unsetenv("QUADRANT_MOE_STAGES");
  EXPECT_EQ(moe_split_k_setting(false), kMoeSplitK);
  EXPECT_EQ(moe_split_k_setting(true), kMoeSplitKW4a8);
  // The defaults at one token, 32 experts top-8, 7168/2048: W4A8 (form 8) by the rule, FP8 off.
  EXPECT_EQ(moe_split_k(8, 32, 4096, 7168, false, 8, 132),
            kMoeSplitKW4a8 == kMoeSplitKAuto ? 2 : 0);
  EXPECT_EQ(moe_split_k(1, 32, 4096, 7168, false, 0, 132), kMoeSplitK == kMoeSplitKAuto ? 8 : 0);
  setenv("QUADRANT_MOE_SPLIT_K", "auto", 1);
  EXPECT_EQ(moe_split_k_setting(false), kMoeSplitKAuto);
  EXPECT_EQ(moe_split_k(1, 32, 4096, 7168, false, 0, 132), 8);
  setenv("QUADRANT_MOE_SPLIT_K", "0", 1);
  EXPECT_EQ(moe_split_k(8, 32, 4096, 7168, false, 8, 132), 0);
  setenv("QUADRANT_MOE_SPLIT_K", "4", 1);
  EXPECT_EQ(moe_split_k_setting(true), 4);
  for (const char* bad : {"9", "-1", "x", "2x"}) {
    setenv("QUADRANT_MOE_SPLIT_K", bad, 1);
    EXPECT_THROW(moe_split_k_setting(true), std::invalid_argument) << bad;
  }
  unsetenv("QUADRANT_MOE_SPLIT_K");
}

}  // namespace
}  // namespace quadrant::kernels::plan
