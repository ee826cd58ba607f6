#pragma once
// The split-KV chunk of a decode attention launch: one cost model for GQA decode attention
// (dispatch.cc) and MLA decode (mla_decode_plan.cc), which differ only in their constants.

#include <cstdint>
#include <vector>

namespace quadrant::kernels::plan {

struct SplitKvCosts {
  double rows = 0;                    // CTAs per split
  double slots = 0;                   // CTAs resident at once
  double token_bytes = 0;             // KV bytes one CTA streams per token
  double partial_bytes = 0;           // a split's partial output, written and read
  double cta_overhead_bytes = 0;      // a CTA's fixed cost, in bytes of streaming
  double combine_overhead_bytes = 0;  // the combine launch's fixed cost, likewise
  double tail_fraction = 0;           // the spread case's tail, in CTAs
  double spread_weight = 0;           // weight of the spread case in the score
  int64_t granule = 1;                // a chunk is a multiple of this many tokens
  int64_t max_splits = 1;
};

// The chunk for `splits` pieces, or (splits == 0) the one minimising
// (1 - w) T_equal / min T_equal + w T_spread / min T_spread: all sequences at max_kv_len,
// or lengths spread evenly below it.
int64_t split_kv_chunk(int64_t max_kv_len, int splits, const SplitKvCosts& k);

// The fluid model of one split-KV launch (decode attention's "fluid" split chooser): the CTAs
// of (sequence, head group, split), in launch order (split fastest), take `slots` slots; each
// spends cta_us (start, Q, ring fill, merge: no bytes), then streams its KV bytes at
// min(cta_rate, bandwidth / CTAs streaming now) (a CTA alone is bound by its loads in flight,
// many share HBM); n > 1 splits add combine_us + combine_us_per_split n. Rates in bytes/us.
struct FluidSplitCosts {
  int64_t batch = 1;
  int64_t groups = 1;      // head groups: CTAs per split of one sequence
  int64_t slots = 1;       // CTAs resident at once
  double token_bytes = 0;  // KV bytes one CTA streams per token
  double cta_us = 0;       // a CTA's fixed time
  double cta_rate = 0;     // one CTA's streaming rate, bytes/us
  double bandwidth = 0;    // HBM, bytes/us
  double combine_us = 0;   // the combine's fixed time (n > 1)
  double combine_us_per_split = 0;
  double spread_weight = 0.5;  // weight of the spread case in the score
  int64_t granule = 1;
  int64_t max_splits = 1;
};
// The launch's time (us) for these sequence lengths at `chunk` tokens per split.
double fluid_split_time(const std::vector<int64_t>& lens, int64_t chunk, const FluidSplitCosts& k);
// The chunk minimising (1 - w) T(all at max_kv_len) / min + w T(spread) / min over 1 ..
// min(max_splits, 32) splits, the spread case lengths max_kv_len (i + 1/2) / batch (the host
// knows only the bound); ties go to fewer splits.
int64_t split_kv_chunk_fluid(int64_t max_kv_len, const FluidSplitCosts& k);

}  // namespace quadrant::kernels::plan
