#pragma once
// The split-KV chunk of a decode attention launch: one cost model for GQA decode attention
// (dispatch.cc) and MLA decode (mla_decode_plan.cc), which differ only in their constants.

#include <cstdint>

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

}  // namespace quadrant::kernels::plan
