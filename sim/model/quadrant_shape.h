// The four quadrants (prefill/decode x attention/FFN) and the shape of one quadrant's
// work on one GPU: what model accounting computes and every cost model is asked about.
//
//   QuadrantShape s = decode_attention_shape(model, layout, batch);   // accounting.h
//   s.flops;  s.bytes;   // -> CostModel::predict(s) (sim/cost/cost_model.h)
#pragma once

#include <cstdint>

#include "sim/core/units.h"
#include "sim/model/model_spec.h"

namespace quadrant {

enum class Quadrant { kPrefillAttention, kPrefillFfn, kDecodeAttention, kDecodeFfn };
const char* to_string(Quadrant q);
inline constexpr int kNumQuadrants = 4;

// One layer's work of one quadrant on one GPU, after TP/EP sharding. Attention fields
// are per GPU (heads already divided by TP); FFN fields count token-expert pairs routed to
// this GPU's experts. flops and bytes are the totals accounting.h computes for the shape,
// so that a roofline needs nothing else.
struct QuadrantShape {
  Quadrant quadrant = Quadrant::kPrefillAttention;
  NumberFormat compute_format = NumberFormat::kBf16;  // format the multiplies run in
  // attention
  int num_seqs = 0;            // sequences in the batch
  int64_t new_tokens = 0;      // query tokens (prefill: chunk tokens; decode: num_seqs * q_len)
  int64_t context_tokens = 0;  // sum over sequences of KV length attended (incl. new)
  int heads = 0;               // query heads on this GPU
  int kv_heads = 0;            // KV heads on this GPU (MLA: 1 latent)
  int qk_head_dim = 0;
  int v_head_dim = 0;
  // FFN
  int64_t routed_tokens = 0;  // token-expert pairs this GPU computes
  int active_experts = 0;     // experts on this GPU that received tokens
  int hidden = 0;
  int intermediate = 0;  // per expert (or dense FFN shard)
  // totals
  Flops flops;
  Bytes bytes;  // fewest bytes moved through HBM: weights, KV, activations
};

}  // namespace quadrant
