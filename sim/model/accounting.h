// Model accounting: parameters, FLOPs, bytes and communication of the four quadrants,
// for a model, a parallel layout and a batch shape. Closed forms only; no simulation.
//
//   ParameterCount p = parameter_count(deepseek_v3);      // total ~671e9, activated ~37e9
//   QuadrantShape s = attention_shape(m, layout, Phase::kDecode, {64, 64, 64 * 4096});
//   s.bytes;   // weights of the attention projections + KV read, per GPU, one layer
#pragma once

#include <cstdint>

#include "sim/core/units.h"
#include "sim/model/layout.h"
#include "sim/model/model_spec.h"
#include "sim/model/quadrant_shape.h"

namespace quadrant {

enum class Phase { kPrefill, kDecode };

struct ParameterCount {
  double total = 0;
  double activated = 0;  // per token: attention, dense FFN, top-k + shared experts, embeddings
  double attention = 0;
  double dense_ffn = 0;
  double routed_experts = 0;  // all routed experts of all MoE layers
  double shared_experts = 0;
  double router = 0;
  double memory_values = 0;  // UltraMem value tables
  double embeddings = 0;     // input embedding + LM head (once if tied)
};
ParameterCount parameter_count(const ModelSpec& m);

// Parameters of one layer's attention projections (Q, K, V, O, or MLA's latents).
double attention_parameters_per_layer(const ModelSpec& m);

// Bytes of the KV cache for one token across all layers (MLA: latent + RoPE key).
Bytes kv_bytes_per_token(const ModelSpec& m);
// The same on one GPU of a layout: KV heads split by TP (replicated when TP exceeds the
// KV heads, and for MLA's single latent), layers split by PP.
Bytes kv_bytes_per_token_per_gpu(const ModelSpec& m, const Layout& l);

// Weight bytes of the whole model in its weight format (embeddings kept in bf16, W4A8
// group scales included), and on one GPU of a layout: attention and dense FFN split by
// TP, routed experts by EP, layers by PP.
Bytes weight_bytes(const ModelSpec& m);
Bytes weight_bytes_per_gpu(const ModelSpec& m, const Layout& l);

// Attention/FFN disaggregation (MegaScale-Infer): weight bytes on one attention GPU
// (attention projections, dense FFN layers, router and embeddings, split by the
// attention layout's TP, replicated over its DP replicas) and on one of `ffn_gpus` FFN
// GPUs (routed experts spread over them, shared experts replicated on each).
struct AfWeights {
  Bytes attention_per_gpu;
  Bytes ffn_per_gpu;
};
// `ffn_slots_per_gpu`: expert replicas per FFN GPU with redundant experts (ExpertLoad's
// slots_per_gpu; 0: the experts spread evenly, no replica).
AfWeights af_weight_bytes_per_gpu(const ModelSpec& m, const Layout& attention, int ffn_gpus,
                                  double ffn_slots_per_gpu = 0);
// Expected number of distinct groups a token's top-k experts fall in, the `experts`
// spread evenly over `groups` (FFN nodes) and the k drawn without replacement at random:
// groups x (1 - C(experts - experts / groups, k) / C(experts, k)). 1 for one group, k when
// every group holds one expert. What per-node deduplication of the M:N exchange sends a
// token to, instead of k experts (DeepEP: one RDMA message per node, NVLink within it).
double expected_distinct_groups(int experts, int top_k, int groups);

// The layout the FFN pool's MoE work is accounted with: ffn_gpus expert-parallel GPUs,
// each a data-parallel rank of the tokens for the shared experts.
Layout af_ffn_layout(int ffn_gpus);

// The work of one step, summed over the sequences of a batch.
struct BatchShape {
  int num_seqs = 0;
  int64_t new_tokens = 0;      // tokens computed this step (prefill chunk or decode tokens)
  int64_t context_tokens = 0;  // sum of KV lengths attended, new tokens included
  // Query-key pairs scored, summed over sequences (causal). 0: derived from the sums
  // above as if the sequences were alike (decode: context_tokens).
  int64_t attention_pairs = 0;
};

// One layer's quadrant work on one GPU of the layout: the shape the cost model sees.
QuadrantShape attention_shape(const ModelSpec& m, const Layout& l, Phase phase,
                              const BatchShape& b);

// What attention_shape takes of the model, layout and phase, computed once: a step's
// cost asks for a shape per step (the same figures, bit for bit, as the call above).
struct AttentionConstants {
  Phase phase = Phase::kPrefill;
  int dp = 1;
  int heads = 0, kv_heads = 0, qk_head_dim = 0, v_head_dim = 0;
  NumberFormat compute_format = NumberFormat::kBf16;
  double proj_params = 0;  // attention projection parameters per GPU
  double kv_elem = 0;      // KV elements per token, layer and GPU
  double kv_b = 0;         // bytes per KV element
  double weights = 0;      // projection weight bytes per GPU
  double h = 0;            // hidden size
  double act_b = 0;        // bytes per activation
  int hidden = 0;
};
AttentionConstants attention_constants(const ModelSpec& m, const Layout& l, Phase phase);
QuadrantShape attention_shape(const AttentionConstants& k, const BatchShape& b);
// How the routed (token, expert) pairs land on the GPUs of a stage: the busiest GPU's
// share over the mean (1: the even spread) and the expert replicas each GPU holds
// (0: experts / GPUs, no redundant ones). See model/expert_placement.h.
struct ExpertSpread {
  double imbalance = 1;
  double slots_per_gpu = 0;
};

// FFN of one layer on the busiest GPU: MoE layers route tokens * top_k pairs over EP
// ranks (the even spread times the imbalance; shared experts counted on every rank);
// dense layers split by TP.
QuadrantShape ffn_shape(const ModelSpec& m, const Layout& l, Phase phase, int64_t tokens,
                        bool moe_layer, const ExpertSpread& spread = {});

// Weight bytes per GPU of the expert replicas beyond an even spread (redundant experts).
Bytes redundant_expert_bytes_per_gpu(const ModelSpec& m, const Layout& l, double slots_per_gpu);

// Communication of one layer on one GPU for `tokens` tokens of the instance.
struct CommVolume {
  Bytes tp_allreduce;  // bytes each GPU sends in the ring all-reduces (attention out + FFN)
  Bytes ep_dispatch;   // bytes each GPU sends to other ranks before the experts
  Bytes ep_combine;    // and after them
  Bytes pp_send;       // activations handed to the next stage (per stage boundary)
};
// Dispatch and combine are those of the busiest GPU (times the spread's imbalance).
CommVolume layer_communication(const ModelSpec& m, const Layout& l, int64_t tokens,
                               const ExpertSpread& spread = {});

// A whole forward pass of the model (all layers, one GPU's share summed over the
// instance's GPUs), per quadrant.
struct ForwardAccounting {
  Flops flops[kNumQuadrants];
  Bytes bytes[kNumQuadrants];
};
ForwardAccounting forward_accounting(const ModelSpec& m, const Layout& l, Phase phase,
                                     const BatchShape& b);

}  // namespace quadrant
